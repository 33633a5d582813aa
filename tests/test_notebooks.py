"""Every chapter executed with papermill on the smoke profile, then the book built."""

import json
import re
from pathlib import Path

import pytest

from npc_lib.profiles import load_profile
from npc_lib.runners.book import build_book, chapters, run_chapters

pytestmark = pytest.mark.notebooks


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run_smoke")
    return run_chapters("smoke", out=out, progress=False)


def _metrics(run: Path, chapter: str) -> dict:
    return json.loads((run / chapter / "metrics.json").read_text())


def test_notebooks_every_chapter_writes_metrics(smoke_run):
    for c in chapters():
        name = Path(c).name
        assert (smoke_run / "notebooks" / f"{name}.ipynb").is_file()
        assert isinstance(_metrics(smoke_run, name), dict)


def test_notebooks_cohort_chapter_metrics(smoke_run):
    m = _metrics(smoke_run, "01_cohort")
    n = load_profile("smoke")["n_patients"]
    assert m["n"] == n
    assert m["n_train"] + m["n_test"] == n
    assert m["n_train"] == round(n * load_profile("smoke")["train_fraction"])
    assert 0 < m["dfs_event_rate"] < 0.5
    assert len(m["scanners"]) == 3
    assert (smoke_run / "split.csv").is_file()
    assert (smoke_run / "01_cohort" / "example_slices.html").is_file()


def test_notebooks_table1_chapter_metrics(smoke_run):
    m = _metrics(smoke_run, "02_table1")
    assert m["n_rows"] >= 20
    assert all(t.split(" (")[0] in {"Welch t-test", "Wilcoxon rank-sum", "Pearson chi-square", "Fisher exact"} for t in m["tests_used"])
    assert all(0 <= p <= 1 for p in m["p_values"].values())


def test_notebooks_rerun_reuses_results(smoke_run):
    before = {p: p.stat().st_mtime_ns for p in (smoke_run / "notebooks").glob("*.ipynb")}
    run_chapters("smoke", out=smoke_run, progress=False)
    after = {p: p.stat().st_mtime_ns for p in (smoke_run / "notebooks").glob("*.ipynb")}
    assert before == after


def test_notebooks_book_builds_offline(smoke_run, tmp_path):
    html = build_book(smoke_run, out=tmp_path / "build")
    pages = list(html.rglob("*.html"))
    assert (html / "index.html").is_file() and len(pages) >= len(chapters())
    assert (html / "_static" / "plotly.min.js").is_file()
    remote = re.compile(r'<script[^>]*src="(https?:)?//|<link[^>]*href="(https?:)?//[^"]*\.(css|js)')
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert not remote.search(text), f"{page.name} loads a script or stylesheet from the network"
        assert "unpkg.com" not in text and "cdn.plot.ly" not in text and "cdn.jsdelivr" not in text, page.name
    cohort_page = (html / "book" / "01_cohort.html").read_text(encoding="utf-8")
    assert "Plotly.newPlot" in cohort_page


def test_notebooks_preprocessing_aligns_scanners(smoke_run):
    m = _metrics(smoke_run, "03_preprocessing")
    for seq in ("T1", "T2", "T1C"):
        assert m["max_spread_standardised"][seq] < 0.25 * m["max_spread_raw"][seq]
        assert (smoke_run / "03_preprocessing" / f"standardizer_{seq}.json").is_file()
        assert (smoke_run / "03_preprocessing" / f"before_after_{seq}.html").is_file()
