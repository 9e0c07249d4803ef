"""Where the project's labelled data is (`NER_JAX_DATA`, else ../shared/data), for tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DATA = Path(os.environ.get("NER_JAX_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))


def require_data(why: str) -> Path:
    """DATA, or skip the test saying what cannot be checked without it (a user's clone)."""
    if not DATA.is_dir():
        pytest.skip(f"{DATA} is absent (set NER_JAX_DATA), so {why}")
    return DATA


# The paper authors' released head and its SOURCE.md, beside the data.
PAPER = DATA.parent / "paper"


def require_paper(why: str) -> Path:
    """PAPER, or skip the test saying what cannot be checked without it."""
    if not (PAPER / "contrastive_projection_head.pth").is_file():
        pytest.skip(f"{PAPER}/contrastive_projection_head.pth is absent, so {why}")
    return PAPER
