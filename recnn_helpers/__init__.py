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
- ``RECNN_DATASET``: the data set every notebook reads (``dataset_name()``; default
  ``ml-100k``; a notebook's tagged ``parameters`` cell takes it, and papermill's
  ``-p DATASET ml-1m`` overrides it). Any other data set than ML-100K writes into its own
  sub-folders, ``res/<dataset>``, ``runs/<dataset>`` and ``models/<dataset>``, so that the
  committed ML-100K figures and weights stay as they are.
- ``RECNN_THREADS``: CPU threads of BLAS, OpenMP and torch (``default_threads()``; default
  the cores this process may use). Set 1 on a machine shared with other jobs.
- ``RECNN_VALIDATION_USERS``: users of a validation pass (``evaluation.VALIDATION_USERS``,
  read once at import; default 10,000; every user when there are fewer).
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


DEFAULT_DATASET = "ml-100k"


def dataset_name() -> str:
    """``RECNN_DATASET``, else ``DEFAULT_DATASET``: the default of every notebook's parameter."""
    return os.environ.get("RECNN_DATASET") or DEFAULT_DATASET


def use_dataset(name: str) -> "Paths":
    """Make ``name`` the data set of this process (every helper's ``paths()`` then writes
    under its folders) and return those folders; a notebook calls it once, right after its
    ``parameters`` cell. An unknown name is refused before anything is written, with the
    list of known ones (``data.dataset_names``)."""
    from .data import check_dataset_name  # data imports this module

    os.environ["RECNN_DATASET"] = check_dataset_name(name)
    return paths()


def positive_int_from_env(name: str, default: int | None = None) -> int | None:
    """The positive integer in environment variable ``name``, else ``default`` (unset or empty)."""
    if value := os.environ.get(name):
        if not value.isdigit() or int(value) < 1:
            raise ValueError(
                f"{name} must be a positive integer, got {value!r}; unset it for the default"
            )
        return int(value)
    return default


def default_threads() -> int:
    """``RECNN_THREADS``, else the CPU cores this process may use (its affinity mask)."""
    if threads := positive_int_from_env("RECNN_THREADS"):
        return threads
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


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
    dataset: str = DEFAULT_DATASET
    """The data set these folders belong to (``dataset_name()``)."""


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
    every notebook. A data set other than ML-100K gets a sub-folder of each (``res/ml-1m``).
    Nothing is created here: every writer makes the folder it writes into.
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
    dataset = dataset_name()
    if dataset != DEFAULT_DATASET:
        res, runs, models = res / dataset, runs / dataset, models / dataset
    return Paths(home=home, data=data, models=models, res=res, results=res / "results",
                 runs=runs, dataset=dataset)  # fmt: skip


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
