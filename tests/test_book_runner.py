import ast
from pathlib import Path

import pytest

from npc_lib.profiles import project_root
from npc_lib.run import resolve_profile
from npc_lib.runners.book import build_book, chapter_parameters, chapters, run_chapters, strip_online_scripts


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
        assert "run.write_results(" in text, f"{c}: the last cell writes the typed results"
        assert 'profile = "smoke"' in text, f"{c}: parameters default to the smoke profile"


def test_chapter_parameters_run_dir_and_own_knobs(tmp_path):
    cfg = resolve_profile("smoke")
    par = chapter_parameters(cfg, tmp_path / "run", "book/04_signatures")
    assert par["run_dir"] == str(tmp_path / "run")
    assert par["crossval_sequences"] == cfg.chapters["04_signatures"]["crossval_sequences"]
    assert chapter_parameters(cfg, tmp_path, "book/03_preprocessing") == {"run_dir": str(tmp_path)}


def test_chapter_parameters_match_notebook_parameter_names():
    for c in chapters():
        par = chapter_parameters(resolve_profile("smoke"), Path("r"), c)
        text = (project_root() / f"{c}.md").read_text()
        cell = text.split(":tags: [parameters", 1)[1].split("```", 1)[0]
        names = {line.split("=")[0].strip() for line in cell.strip().splitlines() if "=" in line}
        assert set(par) <= names, f"{c}: unknown papermill parameters {set(par) - names}"


def _statements(code: str) -> list[ast.stmt]:
    return [n for n in ast.walk(ast.parse(code)) if isinstance(n, ast.stmt)
            and not isinstance(n, (ast.Import, ast.ImportFrom))]


def test_chapters_have_no_function_definitions_or_long_cells():
    """Notebooks hold narrative and calls: no def/class, at most 15 statements of logic per cell."""
    for c in chapters():
        text = (project_root() / f"{c}.md").read_text()
        cells = [part.split("```", 1)[0] for part in text.split("```{code-cell} ipython3")[1:]]
        for cell in cells:
            if ":tags: [parameters" in cell:
                continue  # the parameters cell: literals only, checked by chapter_knobs
            code = "\n".join(line for line in cell.splitlines() if not line.startswith(":"))
            stmts = _statements(code)
            assert not any(isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.Lambda)) for n in ast.walk(ast.parse(code))), \
                f"{c}: a function in a cell"
            assert len(stmts) <= 15, f"{c}: a cell of {len(stmts)} statements: {code[:120]!r}"


def test_run_chapters_stops_before_writing_on_bad_profile(tmp_path):
    f = tmp_path / "bad.yml"
    f.write_text("profile: bad\ntrain: {epochs: 3}\n")
    with pytest.raises(ValueError, match="unknown TrainConfig field"):
        run_chapters(f, out=tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


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


def test_stage_notebook_hides_injected_parameters(tmp_path):
    import json

    from npc_lib.runners.book import stage_notebook

    nb = {"cells": [{"cell_type": "code", "metadata": {"tags": ["injected-parameters"]}, "source": "run_dir = '/x'"},
                    {"cell_type": "code", "metadata": {}, "source": "1"}], "metadata": {}, "nbformat": 4,
          "nbformat_minor": 5}
    (tmp_path / "a.ipynb").write_text(json.dumps(nb))
    stage_notebook(tmp_path / "a.ipynb", tmp_path / "b.ipynb")
    out = json.loads((tmp_path / "b.ipynb").read_text())
    assert "remove-cell" in out["cells"][0]["metadata"]["tags"] and out["cells"][1]["metadata"]["tags"] == []


def test_rerun_chapters_checks_chapters_and_parameters(tmp_path):
    from npc_lib.run import Run, resolve_profile
    from npc_lib.runners.book import rerun_chapters

    run = Run.create(tmp_path / "run", resolve_profile("smoke"))
    with pytest.raises(ValueError, match=r"chapter\(s\) \['99_none'\] not in the book"):
        rerun_chapters(run.dir, first="99_none")
    with pytest.raises(ValueError, match=r"chapter 05_models has no parameter\(s\) \['no_such_knob'\]"):
        rerun_chapters(run.dir, first="05_models", parameters={"05_models": {"no_such_knob": 1}})
    assert not (run.dir / "notebooks").exists()  # nothing executed
