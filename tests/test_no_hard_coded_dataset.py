"""No notebook hard-codes the data set: its name and ML-100K's constants (sizes, the protocol's
popularity figure) appear only inside an ``if DATASET == "ml-100k":`` branch (and in the
``parameters`` cell, which lists the data sets)."""

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*/*.ipynb"))
ML100K = re.compile(r"ml-100k|\b943\b|\b1682\b|\b1_682\b|98_114|0\.04321|100_000\b")
BRANCH = 'DATASET == "ml-100k"'


def unguarded(source: str) -> list[str]:
    """Lines naming ML-100K outside an ``if DATASET == "ml-100k":`` block (comments and
    strings in comments aside)."""
    lines, found = source.splitlines(), []
    for n, line in enumerate(lines):
        code = line.split("#")[0]
        if not ML100K.search(code) or BRANCH in line:
            continue
        indent = len(line) - len(line.lstrip())
        guarded = False
        for above in reversed(lines[:n]):  # the enclosing blocks, innermost first
            depth = len(above) - len(above.lstrip())
            if above.strip() and depth < indent:
                guarded |= BRANCH in above
                indent = depth
        if not guarded:
            found.append(line.strip())
    return found


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_ml100k_appears_only_in_its_branch(notebook):
    cells = json.loads(notebook.read_text())["cells"]
    code = [
        "".join(c["source"])
        for c in cells
        if c["cell_type"] == "code" and "parameters" not in c["metadata"].get("tags", [])
    ]  # it lists the choices
    bad = [line for source in code for line in unguarded(source)]
    assert not bad, f"{notebook.name}: hard-coded ML-100K outside its branch: {bad}"


def test_the_check_sees_an_unguarded_constant():
    assert unguarded('ml = load_dataset("ml-100k")') == ['ml = load_dataset("ml-100k")']
    assert unguarded('if DATASET == "ml-100k":\n    assert n == 943\n') == []
    assert unguarded("if SMOKE:\n    assert n == 943\n") == ["assert n == 943"]
