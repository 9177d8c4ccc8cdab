"""Where runs write: the project folder from a checkout, RECNN_HOME or the working folder from
an installed wheel, never the package's own folder (site-packages)."""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import recnn_helpers as rh
from recnn_helpers.io import check_output_path, save_json

ROOT = Path(__file__).resolve().parents[1]
PATH_VARIABLES = ("RECNN_HOME", "RECNN_DATA", "RECNN_RES", "RECNN_SMOKE")

# Run by a Python that imports recnn_helpers from a non-editable install; argv[1] is the
# folder it was installed into, argv[2] the RECNN_HOME of the smoke run.
SCRIPT = r"""
import json, os, sys
from pathlib import Path

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

site, home = Path(sys.argv[1]), Path(sys.argv[2])
import recnn_helpers as rh
assert Path(rh.__file__).is_relative_to(site), rh.__file__
from recnn_helpers.io import save_json, save_weights
from recnn_helpers.plots import save_figure

# A notebook in smoke mode with RECNN_HOME set.
from recnn_helpers import MODELS_DIR, RES_DIR, RESULTS_DIR
save_json(RESULTS_DIR / "tiny.json", {"ndcg@10": 0.1})
save_weights(MODELS_DIR / "tiny.safetensors", torch.nn.Linear(2, 2))
fig = plt.figure()
save_figure(fig, RES_DIR / "tiny.png")
try:
    save_json(rh.paths(smoke=False).results / "tiny.json", {})
    refused = False
except ValueError:
    refused = True
smoke = {k: str(v) for k, v in vars(rh.paths()).items()}
from recnn_helpers.data import DATA_DIR
smoke["DATA_DIR"] = str(DATA_DIR)

# The same kernel, full mode, no RECNN_HOME: the working folder, and the two moves.
del os.environ["RECNN_HOME"]
os.environ["RECNN_SMOKE"] = "0"
cwd = {k: str(v) for k, v in vars(rh.paths()).items()}
os.environ["RECNN_DATA"] = str(home / "elsewhere-data")
os.environ["RECNN_RES"] = str(home / "elsewhere-res")
from recnn_helpers import MODELS_DIR, RESULTS_DIR
save_json(RESULTS_DIR / "moved.json", {})
moved = {"models": str(MODELS_DIR), "results": str(RESULTS_DIR)}
print(json.dumps({"smoke": smoke, "refused": refused, "cwd": cwd, "moved": moved}))
"""


def files_under(folder: Path) -> set[Path]:
    return {p.relative_to(folder) for p in folder.rglob("*") if "__pycache__" not in p.parts}


@pytest.fixture
def clean_env(monkeypatch):
    for name in PATH_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """Build a wheel from a copy of the sources and install it, without its dependencies
    (this Python has them), into a folder of its own: a site-packages that only it uses."""
    tmp = tmp_path_factory.mktemp("install")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "recnn_helpers", src / "recnn_helpers")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    build = subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", tmp / "wheel", src],
        capture_output=True,
        text=True,
    )
    if build.returncode != 0:
        pytest.skip(f"cannot build the wheel offline here (setuptools >= 77?): {build.stderr}")
    (wheel,) = (tmp / "wheel").glob("recnn_notebooks-*.whl")
    top = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    # The package alone: no data/, res/ or notebooks inside the wheel.
    assert top == {"recnn_helpers", f"recnn_notebooks-{rh.__version__}.dist-info"}
    site = tmp / "site"
    install = [*pip, "install", "--no-deps", "--no-index", "--target", site, wheel]
    subprocess.run(install, check=True)
    return site


def test_wheel_install_writes_under_recnn_home_never_into_site_packages(installed, tmp_path):
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    before = files_under(installed)
    env = {k: v for k, v in os.environ.items() if k not in PATH_VARIABLES}
    env |= {
        "PYTHONPATH": str(installed),
        "PYTHONDONTWRITEBYTECODE": "1",
        "RECNN_HOME": str(home),
        "RECNN_SMOKE": "1",
    }
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, installed, home],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])

    assert files_under(installed) == before, "something was written into the install folder"
    assert files_under(home) >= {
        Path("runs/smoke/res/results/tiny.json"),
        Path("runs/smoke/res/tiny.png"),
        Path("data/models-smoke/tiny.safetensors"),
        Path("elsewhere-res/results/moved.json"),
    }
    assert not (home / "res").exists() and not (home / "data/models").exists()
    assert out["refused"], "a smoke run wrote into the full run's results"
    assert out["smoke"]["home"] == str(home.resolve())
    assert out["smoke"]["DATA_DIR"] == out["smoke"]["data"] == str(home.resolve() / "data")
    assert out["cwd"]["home"] == str(work.resolve())
    assert out["cwd"]["res"] == str(work.resolve() / "res")
    assert out["cwd"]["models"] == str(work.resolve() / "data/models")
    assert out["moved"] == {
        "models": str(home.resolve() / "elsewhere-data/models"),
        "results": str(home.resolve() / "elsewhere-res/results"),
    }
    assert list(work.iterdir()) == []


def test_checkout_paths_are_read_when_used(clean_env):
    assert rh.ROOT == ROOT
    assert rh.RES_DIR == ROOT / "res"
    assert rh.MODELS_DIR == ROOT / "data/models"
    clean_env.setenv("RECNN_SMOKE", "1")
    from recnn_helpers import MODELS_DIR, RES_DIR, RESULTS_DIR, RUNS_DIR

    assert RUNS_DIR == ROOT / "runs/smoke"
    assert RES_DIR == ROOT / "runs/smoke/res"
    assert RESULTS_DIR == ROOT / "runs/smoke/res/results"
    assert MODELS_DIR == ROOT / "data/models-smoke"
    assert rh.paths(smoke=False).res == ROOT / "res"


def test_data_and_res_variables_move_everything_they_hold(clean_env, tmp_path):
    clean_env.setenv("RECNN_DATA", str(tmp_path / "d"))
    clean_env.setenv("RECNN_RES", str(tmp_path / "r"))
    full, smoke = rh.paths(smoke=False), rh.paths(smoke=True)
    assert (full.data, full.models) == (tmp_path / "d", tmp_path / "d/models")
    assert (full.res, full.results) == (tmp_path / "r", tmp_path / "r/results")
    assert smoke.models == tmp_path / "d/models-smoke"
    assert smoke.res == ROOT / "runs/smoke/res"
    clean_env.setenv("RECNN_HOME", str(tmp_path / "h"))
    assert rh.ROOT == tmp_path / "h" and rh.RUNS_DIR == tmp_path / "h/runs"


def test_smoke_run_may_not_write_into_the_full_run_folders(clean_env, tmp_path):
    clean_env.setenv("RECNN_HOME", str(tmp_path))
    full = rh.paths(smoke=False)
    assert check_output_path(full.results / "x.json") == full.results / "x.json"
    clean_env.setenv("RECNN_SMOKE", "1")
    for path in (full.results / "x.json", full.res / "x.png", full.models / "actor.safetensors"):
        with pytest.raises(ValueError, match="RECNN_SMOKE=1 but this is inside the full run"):
            check_output_path(path)
    with pytest.raises(ValueError, match="full run"):
        save_json(full.results / "x.json", {})
    assert not full.res.exists()
    save_json(rh.RESULTS_DIR / "x.json", {})
    assert (tmp_path / "runs/smoke/res/results/x.json").is_file()


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="NO_SUCH_DIR"):
        rh.NO_SUCH_DIR  # noqa: B018
