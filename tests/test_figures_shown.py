"""Every figure a notebook draws is shown under its cell.

One test executes a small notebook in a real kernel (as JupyterLab and the main job do) and
checks that two figures drawn through the helpers both appear as PNG outputs; the other counts,
in every committed notebook, the figures its cells save against the PNGs they show.
"""

import json
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(
    p for p in (ROOT / "notebooks").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
)
# A figure the project keeps is saved under res/ by a path literal ending in .png; a cell that
# saves one must show at least as many PNGs as it names.
SAVES = re.compile(r"\.png[\"']")
# Every figure is drawn by one call: a plot helper (`plot_losses(..., save=...)`) or
# `save_figure` for a figure drawn with matplotlib. A figure drawn by a helper and then saved
# again, or a wrapper around a helper, shows as more calls than figures.
FIGURE_CALLS = re.compile(r"\bplot_\w+\(|\bsave_figure\(")


def _pngs(cell) -> int:
    return sum(1 for o in cell.get("outputs", []) if "image/png" in o.get("data", {}))


def test_two_helper_figures_in_one_kernel_are_both_shown(tmp_path):
    # The first figure of the kernel is drawn by a helper: that is the case that used to hide
    # every later figure (the style context switched interactive mode off on exit).
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import numpy as np\n"
            "from recnn_helpers.plots import plot_losses, plot_metric_bars\n"
            "fig = plot_losses({'loss': np.arange(60.0)})"
        ),
        nbformat.v4.new_code_cell("fig = plot_metric_bars({'a': {'HR@10': 0.1, 'NDCG@10': 0.05}})"),
    ]
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    assert [_pngs(cell) for cell in nb.cells] == [1, 1]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT / "notebooks")))
def test_committed_notebook_shows_every_figure_it_draws(path):
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    if not any(c.get("outputs") for c in cells):
        pytest.skip("no saved outputs (a smoke run strips nothing, but this copy has none)")
    for cell in cells:
        drawn = len(SAVES.findall("".join(cell["source"])))
        assert _pngs(cell) >= drawn, (
            f"a cell draws {drawn} figure(s) but shows {_pngs(cell)}:\n"
            + "".join(cell["source"])[:300]
        )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT / "notebooks")))
def test_committed_notebook_draws_each_figure_with_one_call(path):
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    if not any(c.get("outputs") for c in cells):
        pytest.skip("no saved outputs")
    calls = sum(len(FIGURE_CALLS.findall("".join(c["source"]))) for c in cells)
    shown = sum(_pngs(c) for c in cells)
    assert calls <= shown, (
        f"{calls} plot_*/save_figure calls for {shown} figures shown: draw and save each figure "
        "with one call (the helper's save=, or save_figure for a matplotlib figure)"
    )
