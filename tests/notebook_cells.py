"""Run a notebook's tagged cells in a namespace, so that tests can reach the models that live
in the notebooks (the project keeps algorithm code inline): the cell tagged ``parameters``
(the data set), the one cell tagged ``imports``, then every cell tagged ``tag``, in order."""

from pathlib import Path

import nbformat
from nbclient import NotebookClient


def tagged_cells_namespace(notebook: Path, tag: str) -> dict:
    nb = nbformat.read(notebook, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code"]
    parameters = [c for c in cells if "parameters" in c.metadata.get("tags", [])]
    imports = [c for c in cells if "imports" in c.metadata.get("tags", [])]
    tagged = [c for c in cells if tag in c.metadata.get("tags", [])]
    assert len(imports) == 1, f"tag exactly one cell `imports` in {notebook.name}"
    assert tagged, f"tag the cells the tests need `{tag}` in {notebook.name}"
    namespace: dict = {"__name__": f"{notebook.stem}_notebook"}
    for cell in [*parameters, *imports, *tagged]:
        exec(compile(cell.source, f"{notebook.name}:{cells.index(cell)}", "exec"), namespace)
    return namespace


def run_notebook(notebook: Path, monkeypatch, env: dict[str, str]) -> str:
    """Execute ``notebook`` in a kernel that inherits ``env`` (set through ``monkeypatch``, so
    that the test's teardown restores them); return the text of its stream outputs."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("RECNN_RES", raising=False)
    nb = nbformat.read(notebook, as_version=4)
    where = {"metadata": {"path": str(notebook.parent)}}
    NotebookClient(nb, timeout=900, kernel_name="python3", resources=where).execute()
    return "".join(
        "".join(o.get("text", "")) for c in nb.cells if c.cell_type == "code"
        for o in c.get("outputs", [])
    )  # fmt: skip
