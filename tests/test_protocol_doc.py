"""The protocol is part of the repository, and every reference to it resolves."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROTOCOL = ROOT / "PROTOCOL.md"
SOURCES = [*ROOT.glob("recnn_helpers/*.py"), *ROOT.glob("tests/*.py"),
           *ROOT.glob("notebooks/**/*.ipynb"), ROOT / "README.md"]  # fmt: skip


def test_protocol_document_exists_with_the_conformance_figures():
    text = PROTOCOL.read_text()
    assert "| test (history = train + validation) | 0.08378 | 0.04321 |" in text


def test_every_quoted_protocol_section_exists():
    headings = {
        m.group(1).strip().lower() for m in re.finditer(r"^#+ (.+)$", PROTOCOL.read_text(), re.M)
    }
    cited = set()
    for path in SOURCES:
        if path.name == Path(__file__).name:
            continue
        # References of the form: PROTOCOL.md, "Section name"
        for m in re.finditer(r'PROTOCOL\.md, "([^"\n]+)"', path.read_text()):
            cited.add((path.relative_to(ROOT).as_posix(), m.group(1)))
    missing = [(p, s) for p, s in cited if s.strip().lower() not in headings]
    assert not missing, f"references to sections PROTOCOL.md does not have: {missing}"
    assert cited, "the pattern found no reference at all: the test would pass vacuously"
