"""Small shared helpers for the recnn notebooks: data, environments, evaluation, plots, I/O.

Every notebook starts with ``SMOKE = smoke_mode()`` and ``seed_everything(args.seed)`` and
writes its figures under ``RES_DIR``, its TensorBoard runs under ``RUNS_DIR`` and the weights
a later notebook reuses under ``MODELS_DIR``.

Where those folders are is read from the environment each time a name is read (``paths()``),
not once at import, so setting ``RECNN_SMOKE=1`` in a running kernel and re-running the import
cell gives the smoke folders:

- ``RECNN_HOME``: the project folder. Default: the checkout that holds this package when it
  is imported from one (editable install, or a notebook run in the repository), otherwise
  the current working directory. Never the installed package's folder.
- ``RECNN_DATA``: downloads, caches and the saved weights (``models/``). Default: HOME/data.
- ``RECNN_RES``: figures and results of the full run. Default: HOME/res.
- ``RECNN_SMOKE=1``: a smoke run writes under HOME/runs/smoke (``res/`` and TensorBoard logs)
  and DATA/models-smoke, never into the full run's folders (``io.check_output_path``).
"""

import os
import random
import warnings
from dataclasses import dataclass
from pathlib import Path

__version__ = "0.2.0"

# Notebooks are executed headless and read as static pages, where text progress bars are
# what a reader sees; tqdm.auto's advice to install ipywidgets (imported by libraries such
# as sentence-transformers) would only add a warning to every saved output.
warnings.filterwarnings("ignore", message="IProgress not found")

_PACKAGE_PARENT = Path(__file__).resolve().parent.parent


def smoke_mode() -> bool:
    """True when ``RECNN_SMOKE=1`` (CI): notebooks shrink steps and data, skip no stage."""
    return os.environ.get("RECNN_SMOKE", "0") == "1"


@dataclass(frozen=True)
class Paths:
    """Where a run reads and writes; see ``paths()``."""

    home: Path
    """The project folder (``ROOT``)."""
    data: Path
    """Downloads and caches (``recnn_helpers.data.DATA_DIR``)."""
    models: Path
    """Weights that a later notebook reuses (``MODELS_DIR``)."""
    res: Path
    """Figures (``RES_DIR``)."""
    results: Path
    """Metric tables, ``res/results`` (``RESULTS_DIR``)."""
    runs: Path
    """TensorBoard logs (``RUNS_DIR``)."""


def project_home() -> Path:
    """``RECNN_HOME``, else the checkout this package is imported from, else the working folder."""
    if home := os.environ.get("RECNN_HOME"):
        return Path(home).expanduser().resolve()
    # A checkout holds pyproject.toml next to the package; site-packages never does.
    if (_PACKAGE_PARENT / "pyproject.toml").is_file():
        return _PACKAGE_PARENT
    return Path.cwd().resolve()


def paths(smoke: bool | None = None) -> Paths:
    """Resolve the run's folders from the environment now (``smoke=None``: ``smoke_mode()``).

    Used through ``ROOT``, ``RES_DIR``, ``RESULTS_DIR``, ``MODELS_DIR`` and ``RUNS_DIR`` by
    every notebook. Nothing is created here: every writer makes the folder it writes into.
    """
    if smoke is None:
        smoke = smoke_mode()
    home = project_home()
    data = Path(os.environ.get("RECNN_DATA") or home / "data").expanduser().resolve()
    if smoke:
        # The figures and results of the full run are tracked in res/; a smoke run (CI,
        # tests) writes its own, and its TensorBoard logs, under runs/smoke/.
        runs = home / "runs" / "smoke"
        res = runs / "res"
        models = data / "models-smoke"
    else:
        runs = home / "runs"
        res = Path(os.environ.get("RECNN_RES") or home / "res").expanduser().resolve()
        models = data / "models"
    return Paths(home=home, data=data, models=models, res=res, results=res / "results", runs=runs)


_PATH_NAMES = {
    "ROOT": "home",
    "RES_DIR": "res",
    "RESULTS_DIR": "results",
    "MODELS_DIR": "models",
    "RUNS_DIR": "runs",
}


def __getattr__(name: str) -> Path:
    # PEP 562: `from recnn_helpers import RES_DIR` resolves the folder when it is imported.
    if name in _PATH_NAMES:
        return getattr(paths(), _PATH_NAMES[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_PATH_NAMES])


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (CPU and CUDA) and ask torch for deterministic kernels."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
