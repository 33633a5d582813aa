"""Shared pytest fixtures."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from cohort_factory import make_tiny_cohort  # noqa: E402


@pytest.hookimpl(tryfirst=True)  # before xdist reads the xdist_group markers
def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (``make test`` runs two workers, ``--dist loadgroup``): one group per test
    file, so that a module's fixtures are built once and its tests run in order, and one group for
    every file with a test of the session's smoke run, so that run is executed once, by one worker."""
    if not config.pluginmanager.hasplugin("xdist"):
        return

    def module(item):
        return item.nodeid.split("::")[0]

    shared = {module(i) for i in items if "smoke_run" in getattr(i, "fixturenames", ())}
    for item in items:
        item.add_marker(pytest.mark.xdist_group("smoke_run" if module(item) in shared else module(item)))


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
