"""Shared test settings."""

import pytest


@pytest.fixture(autouse=True)
def _no_download(monkeypatch):
    # A missing release must give the "put these files there" error in tests, never a
    # download of the real GroupLens zips (tests/test_fetch.py unsets this for its own
    # local server).
    monkeypatch.setenv("RECNN_NO_DOWNLOAD", "1")
