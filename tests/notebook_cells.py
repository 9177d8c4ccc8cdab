"""Run a notebook's tagged cells in a namespace, so that tests can reach the models that live
in the notebooks (the project keeps algorithm code inline): the cell tagged ``parameters``
(the data set), the one cell tagged ``imports``, then every cell tagged ``tag``, in order."""

from pathlib import Path

import nbformat


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
