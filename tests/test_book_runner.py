from pathlib import Path

import pytest

from npc_lib.profiles import load_profile, project_root
from npc_lib.runners.book import build_book, chapter_parameters, chapters, strip_online_scripts


def test_chapters_follow_toc_and_exist():
    chs = chapters()
    assert chs[0] == "book/00_intro"
    assert chs == sorted(chs), "chapters are numbered in reading order"
    for c in chs:
        assert (project_root() / f"{c}.md").is_file()


def test_chapters_have_parameters_cell_and_metrics():
    for c in chapters():
        text = (project_root() / f"{c}.md").read_text()
        assert ":tags: [parameters" in text, c
        assert "metrics.json" in text, c
        assert 'profile = "smoke"' in text, f"{c}: parameters default to the smoke profile"


def test_chapter_parameters_paths_and_scalars(tmp_path):
    p = load_profile("smoke")
    par = chapter_parameters(p, tmp_path / "cohort", tmp_path / "run", "book/01_cohort")
    assert par["out_dir"] == str(tmp_path / "run" / "01_cohort")
    assert par["cohort_dir"] == str(tmp_path / "cohort")
    assert par["n_patients"] == p["n_patients"]
    assert isinstance(par["train_overrides"], str)
    assert all(isinstance(v, (str, int, float, bool)) for v in par.values())


def test_chapter_parameters_match_notebook_parameter_names():
    for c in chapters():
        par = chapter_parameters(load_profile("smoke"), Path("c"), Path("r"), c)
        text = (project_root() / f"{c}.md").read_text()
        cell = text.split(":tags: [parameters", 1)[1].split("```", 1)[0]
        names = {line.split("=")[0].strip() for line in cell.strip().splitlines() if "=" in line}
        assert set(par) - {"profile"} <= names | {"profile"}, f"{c}: unknown papermill parameters {set(par) - names}"


def test_strip_online_scripts_removes_thebe_loader(tmp_path):
    page = tmp_path / "p.html"
    page.write_text(
        '<head><script>const THEBE_JS_URL = "https://unpkg.com/thebe@0.8.2/lib/index.js"; const x = 1;</script>\n'
        '<script async="async" src="../_static/sphinx-thebe.js?v=1"></script>\n<script src="a.js"></script></head>'
    )
    assert strip_online_scripts(tmp_path) == 1
    text = page.read_text()
    assert "unpkg" not in text and "sphinx-thebe" not in text and 'src="a.js"' in text


def test_build_book_requires_executed_run(tmp_path):
    with pytest.raises(ValueError, match="lacks executed chapters"):
        build_book(tmp_path, out=tmp_path / "b")


def test_chapter_parameters_per_chapter_entries(tmp_path):
    p = dict(load_profile("smoke"), chapters={"04_signatures": {"cv_folds": 2}})
    assert chapter_parameters(p, tmp_path, tmp_path, "book/04_signatures")["cv_folds"] == 2
    assert "cv_folds" not in chapter_parameters(p, tmp_path, tmp_path, "book/03_preprocessing")
    with pytest.raises(ValueError, match="chapters.04_signatures must be a mapping"):
        chapter_parameters(dict(p, chapters={"04_signatures": 3}), tmp_path, tmp_path, "book/04_signatures")
