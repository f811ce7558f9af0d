"""Locates the shared third-party X12 corpus (a `shared/` folder beside the repository)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# tests/unit/edi_x12/conftest.py -> parents[3] is the repository root.
CORPUS_DIR = Path(__file__).resolve().parents[3] / ".." / "shared" / "corpus" / "x12"


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    if CORPUS_DIR.is_dir():
        return CORPUS_DIR
    message = f"X12 corpus not found at {CORPUS_DIR.resolve()}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}; CI must check out shared/ beside the repository")
    pytest.skip(f"{message} (local run without shared/)")
