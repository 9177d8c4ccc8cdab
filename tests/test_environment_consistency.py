"""pyproject.toml, requirements.lock, environment.yml, the scripts and .venv agree.

requirements.lock is written by scripts/lock.sh (uv, with hashes): every package but torch.
"""

import re
import sys
import tomllib
from importlib.metadata import distributions
from pathlib import Path

import pytest
import yaml
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
# In pyproject but installed by scripts/setup.sh before the lock, so that a CUDA build stays.
NOT_LOCKED = {"torch"}
# Installed next to the lock's packages: pip itself, torch, a CUDA build's own libraries and
# this project.
UNPINNED_PREFIXES = ("pip", "torch", "nvidia-", "triton", "recnn-notebooks")
# The lock is compiled for this version and up (scripts/lock.sh --python-version).
LOCK_PYTHON = "3.11"

PIN = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*(.+?))?\s*\\?")


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def pyproject_requirements() -> dict[str, Requirement]:
    project = pyproject()["project"]
    lines = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        lines += extra
    return {canonicalize_name(r.name): r for r in map(Requirement, lines)}


def environment_yml() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def environment_requirements() -> dict[str, Requirement]:
    deps = environment_yml()["dependencies"]
    pip_sections = [d["pip"] for d in deps if isinstance(d, dict) and "pip" in d]
    assert len(pip_sections) == 1, "environment.yml: expected exactly one `pip:` section"
    return {canonicalize_name(r.name): r for r in map(Requirement, pip_sections[0])}


def lock_pins(environment: dict[str, str] | None = None) -> dict[str, Version]:
    """`name: version` for every pin whose marker holds in `environment` (None: this Python)."""
    pins = {}
    for number, line in enumerate(LOCK.read_text().splitlines(), 1):
        if not line or line[0] in "# ":
            continue  # comments, and the hash and `# via` lines under each pin
        match = PIN.fullmatch(line)
        assert match, f"requirements.lock line {number}: {line!r} is not `name==version [; marker]`"
        if match[3] is None or Marker(match[3]).evaluate(environment):
            pins[canonicalize_name(match[1])] = Version(match[2])
    return pins


def lock_python_311() -> dict[str, Version]:
    return lock_pins({"python_version": "3.11", "python_full_version": "3.11.7"})


def test_environment_yml_names_match_pyproject():
    pyproject_names, env = set(pyproject_requirements()), set(environment_requirements())
    assert pyproject_names - env == set(), "in pyproject.toml but missing from environment.yml"
    assert env - pyproject_names == set(), "in environment.yml but missing from pyproject.toml"


def test_environment_yml_pins_what_the_lock_pins():
    pins = lock_python_311()
    assert f"python={LOCK_PYTHON}" in environment_yml()["dependencies"]
    for name, requirement in environment_requirements().items():
        if name in NOT_LOCKED:
            continue
        assert str(requirement.specifier) == f"=={pins[name]}", (
            f"environment.yml has {requirement}, requirements.lock pins {name}=={pins[name]}"
        )


def test_lock_pins_every_pyproject_name_but_torch():
    pins = set(lock_python_311())
    assert set(pyproject_requirements()) - NOT_LOCKED - pins == set(), "run bash scripts/lock.sh"
    assert NOT_LOCKED & pins == set(), "torch must stay out of the lock (scripts/lock.sh)"


def test_every_pin_has_hashes():
    for block in re.split(r"\n(?=[A-Za-z0-9])", LOCK.read_text()):
        if PIN.match(block):
            assert "--hash=sha256:" in block, f"requirements.lock: no hash for {block.split()[0]}"


@pytest.mark.parametrize("source", [pyproject_requirements, environment_requirements])
def test_lock_pins_satisfy_specifiers(source):
    pins = lock_python_311()
    for name, requirement in source().items():
        if name in pins:
            assert requirement.specifier.contains(pins[name], prereleases=True), (
                f"requirements.lock pins {name}=={pins[name]}, outside {requirement}"
            )


def test_python_versions_agree():
    requires = SpecifierSet(pyproject()["project"]["requires-python"])
    assert requires == SpecifierSet(f">={LOCK_PYTHON}"), "requires-python is what the lock supports"
    assert f"--python-version {LOCK_PYTHON}" in (ROOT / "scripts/lock.sh").read_text()
    setup = (ROOT / "scripts/setup.sh").read_text()
    assert f"sys.version_info < ({LOCK_PYTHON.replace('.', ', ')})" in setup
    ruff = pyproject()["tool"]["ruff"]["target-version"]
    assert ruff == "py" + LOCK_PYTHON.replace(".", "")


def test_installed_packages_are_the_locked_ones():
    """.venv holds exactly the lock's versions (what `bash scripts/setup.sh` installs)."""
    if sys.prefix == sys.base_prefix:
        pytest.skip("not running in a virtual environment made by scripts/setup.sh")
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in distributions()}
    if "recnn-notebooks" not in installed:
        pytest.skip("recnn-notebooks is not installed here; run bash scripts/setup.sh")
    pins = lock_pins()
    wrong = {
        name: f"{installed.get(name, 'missing')}, lock {version}"
        for name, version in pins.items()
        if name not in installed or Version(installed[name]) != version
    }
    assert wrong == {}, "run bash scripts/setup.sh"
    extra = {name for name in installed if name not in pins}
    extra = {name for name in extra if not name.startswith(UNPINNED_PREFIXES)}
    assert extra == set(), "installed but not in requirements.lock: pip uninstall them"
