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
    test changes. Under pytest-xdist (``make test``) the workers share one run:
    the first to need it executes it under a file lock, the others wait for it
    (the session's base temporary folder is common to the workers).
    """
    import os

    from npc_lib._io import file_lock
    from npc_lib.runners.book import run_chapters

    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return run_chapters("smoke", out=tmp_path_factory.mktemp("run_smoke"), progress=False)
    shared = tmp_path_factory.getbasetemp().parent / "run_smoke"
    with file_lock(shared.with_name("run_smoke.lock")):
        done = shared.with_name("run_smoke.complete")  # beside the run: its folder holds only the run
        if not done.is_file():
            run_chapters("smoke", out=shared, progress=False)
            done.touch()
    return shared
