"""pyproject.toml, environment.yml and requirements.lock name the same dependencies."""

import re
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from 3.11")

ROOT = Path(__file__).resolve().parents[1]

# Pinned in the lock for repeatability although no pyproject entry names them.
TRANSITIVE_PINS = {"transformers"}
# In pyproject but installed by scripts/setup.sh before the lock applies.
NOT_LOCKED = {"torch"}


def normalise(name: str) -> str:
    """PEP 503 name: lower case, runs of '-', '_', '.' become one '-'."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pyproject_requirements() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        lines += extra
    return {normalise(r.name): r for r in map(Requirement, lines)}


def environment_requirements() -> dict[str, Requirement]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_sections = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_sections) == 1, "environment.yml: expected exactly one `pip:` section"
    return {normalise(r.name): r for r in map(Requirement, pip_sections[0])}


def lock_pins() -> dict[str, Version]:
    pins = {}
    for number, line in enumerate((ROOT / "requirements.lock").read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line)
        assert match, f"requirements.lock line {number}: {line!r} is not an exact `name==version`"
        pins[normalise(match[1])] = Version(match[2])
    return pins


def test_environment_yml_names_match_pyproject():
    pyproject, env = set(pyproject_requirements()), set(environment_requirements())
    assert pyproject - env == set(), "in pyproject.toml but missing from environment.yml"
    assert env - pyproject == set(), "in environment.yml but missing from pyproject.toml"


def test_lock_pins_every_pyproject_name_and_nothing_unknown():
    pyproject, pins = set(pyproject_requirements()), set(lock_pins())
    assert pyproject - NOT_LOCKED - pins == set(), "add these to requirements.lock"
    assert pins - pyproject - TRANSITIVE_PINS == set(), "pinned but not a project dependency"


@pytest.mark.parametrize("source", [pyproject_requirements, environment_requirements])
def test_lock_pins_satisfy_specifiers(source):
    pins = lock_pins()
    for name, requirement in source().items():
        if name in pins:
            assert requirement.specifier.contains(pins[name], prereleases=True), (
                f"requirements.lock pins {name}=={pins[name]}, outside {requirement}"
            )
