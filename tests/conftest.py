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


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> Path:
    """The smoke profile's run folder, every chapter executed once per test session.

    Shared by every test that needs a finished run (notebooks, model bundle,
    prediction, external validation): read it, never modify it; copy what a
    test changes.
    """
    from npc_lib.runners.book import run_chapters

    out = tmp_path_factory.mktemp("run_smoke")
    return run_chapters("smoke", out=out, progress=False)
