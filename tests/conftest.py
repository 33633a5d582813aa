"""Shared pytest fixtures."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from cohort_factory import make_tiny_cohort  # noqa: E402


@pytest.fixture
def tiny_cohort(tmp_path: Path) -> Path:
    """A valid 8-patient cohort (SPEC layout) under a fresh temporary directory."""
    return make_tiny_cohort(tmp_path / "cohort")
