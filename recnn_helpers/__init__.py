"""Small shared helpers for the recnn notebooks: data, environments, evaluation, plots, I/O.

Every notebook starts with ``SMOKE = smoke_mode()`` and ``seed_everything(args.seed)`` and
writes its figures under ``RES_DIR``, its TensorBoard runs under ``RUNS_DIR`` and the weights
a later notebook reuses under ``MODELS_DIR``.
"""

import os
import random
import warnings
from pathlib import Path

__version__ = "0.1.0"

# Notebooks are executed headless and read as static pages, where text progress bars are
# what a reader sees; tqdm.auto's advice to install ipywidgets (imported by libraries such
# as sentence-transformers) would only add a warning to every saved output.
warnings.filterwarnings("ignore", message="IProgress not found")


def smoke_mode() -> bool:
    """True when ``RECNN_SMOKE=1`` (CI): notebooks shrink steps and data, skip no stage."""
    return os.environ.get("RECNN_SMOKE", "0") == "1"


ROOT = Path(__file__).resolve().parent.parent
# The figures and results of the full run are tracked in res/; a smoke run (CI, tests) writes
# its own, and its TensorBoard logs, under runs/smoke/ so that the tests never mix with them.
RUNS_DIR = ROOT / "runs" / "smoke" if smoke_mode() else ROOT / "runs"
RES_DIR = RUNS_DIR / "res" if smoke_mode() else ROOT / "res"
RESULTS_DIR = RES_DIR / "results"
MODELS_DIR = ROOT / "data" / ("models-smoke" if smoke_mode() else "models")
# No folder is made here: every writer (plots.save_figure, io.save_json, io.save_weights,
# the TensorBoard writer) creates the one it writes into.


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
