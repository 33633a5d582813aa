import json
import shlex
from pathlib import Path

import pandas as pd
import pytest
from nomogram_models import ALL_COVARIATES, SUBSET, fitted

from npc_lib.cli import main
from npc_lib.cohort.covariates import clinical_coding
from npc_lib.stats.nomogram_export import (NomogramCalculator, read_nomogram_model, updated_nomogram_model,
                                           write_model_document, write_nomogram_model)

README = Path(__file__).resolve().parents[1] / "README.md"
VALUES = ["age=50", "sex=F", "hgb=135", "alb=44", "crp=2.5", "ldh=500", "ebv_dna=3200", "family_history=no",
          "smoking=no", "drinking=no", "who_type=III", "DL_T1_sig=0.4", "DL_T2_sig=-0.4", "DL_T1C_sig=0"]


def readme_example() -> list[str]:
    """The arguments of the README's ``npc nomogram`` example (continuation lines joined, comment dropped)."""
    lines = README.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("npc nomogram "))
    text = ""
    for line in lines[start:]:
        text += line.rstrip().rstrip("\\") + " "
        if not line.rstrip().endswith("\\"):
            break
    args = shlex.split(text, comments=True)
    assert args[:2] == ["npc", "nomogram"]
    return args[1:]


def cli_args(values, model: Path, *extra) -> list[str]:
    return ["nomogram", "--model", str(model), *[a for v in values for a in ("--value", v)], *extra]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    out = {}
    for name, covs in (("all", ALL_COVARIATES), ("subset", SUBSET)):
        nom, _ = fitted(covs)
        out[name] = write_nomogram_model(nom, folder / name / "nomogram.json", times=[36, 60],
                                         coding=clinical_coding(), name="Model_clinic+dl")
    return out


@pytest.mark.parametrize("which", ["all", "subset"])
def test_cli_nomogram_readme_example_runs(models, which, capsys):
    """The README's example runs on a model with every selectable covariate, so on any the book exports."""
    args = readme_example()
    i = args.index("--model")
    assert args[i + 1] == "runs/default/06_nomogram/nomogram.json"
    args[i + 1] = str(models[which])
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "total points" in out and "3-year DFS (36 months)" in out and "5-year DFS (60 months)" in out
    assert ("not used by this model" in out) == (which == "subset")
    assert "adjust-to" not in out


def test_cli_nomogram_json_matches_calculator(models, capsys):
    assert main(cli_args(VALUES, models["subset"], "--json")) == 0
    got = json.loads(capsys.readouterr().out)
    values = dict(v.split("=", 1) for v in VALUES)
    expected = NomogramCalculator.from_json(models["subset"]).predict_clinical(values)
    assert got["total_points"] == expected.total_points
    assert got["points"] == expected.points
    assert got["survival"] == {str(t): s for t, s in expected.survival.items()}
    assert got["covariate_values"]["sex_female"] == 1.0 and got["covariate_values"]["ebv_dna_ge_4000"] == 0.0
    assert got["unused"] == ["crp", "family_history", "smoking", "who_type"]


def test_cli_nomogram_missing_variable_named(models, capsys):
    values = [v for v in VALUES if not v.startswith(("sex=", "hgb=", "drinking=", "alb="))]
    assert main(cli_args(values, models["subset"])) == 2
    err = capsys.readouterr().err
    assert "npc nomogram: error: values: missing variable(s) ['sex', 'hgb', 'drinking', 'alb']" in err
    assert "--fill-missing" in err and "sex_female" not in err


def test_cli_nomogram_fill_missing_says_so(models, capsys):
    values = [v for v in VALUES if not v.startswith(("sex=", "hgb="))]
    assert main(cli_args(values, models["subset"], "--fill-missing")) == 0
    out = capsys.readouterr().out
    assert "* sex not given: set to the model's adjust-to value M (--fill-missing)" in out
    assert "* hgb not given: set to the model's adjust-to value" in out
    assert "drinking not given" not in out


def test_cli_nomogram_paper_example_with_fill_missing(models, capsys):
    """The paper's worked example (Fig. 2: age 50, LDH 500, EBV DNA < 4000, signatures 0.4, -0.4, 0)."""
    values = ["age=50", "ldh=500", "ebv_dna=< 4000", "DL_T1_sig=0.4", "DL_T2_sig=-0.4", "DL_T1C_sig=0"]
    assert main(cli_args(values, models["all"], "--fill-missing", "--json")) == 0
    got = json.loads(capsys.readouterr().out)
    assert sorted(got["filled"]) == ["alb", "crp", "drinking", "family_history", "hgb", "sex", "smoking", "who_type"]
    assert got["covariate_values"]["DL_T2_sig"] == -0.4 and got["covariate_values"]["ebv_dna_ge_4000"] == 0.0


@pytest.mark.parametrize("extra, message", [
    (["age50"], "--value: expected NAME=VALUE, got 'age50'"),
    (["age=51"], "--value: age given twice"),
    (["sex_female=1"], "internal coding"),
    (["agee=1"], "unknown variable(s) ['agee']"),
])
def test_cli_nomogram_bad_values(models, extra, message, capsys):
    assert main(cli_args(VALUES + extra, models["subset"])) == 2
    assert message in capsys.readouterr().err


def test_cli_nomogram_bad_category(models, capsys):
    values = [v for v in VALUES if not v.startswith("sex=")] + ["sex=X"]
    assert main(cli_args(values, models["subset"])) == 2
    assert "values: sex: unknown value 'X' (allowed: M, F)" in capsys.readouterr().err


def test_cli_nomogram_bad_model_file(tmp_path, capsys):
    assert main(cli_args(["age=50"], tmp_path / "none.json")) == 2
    assert "model: file not found" in capsys.readouterr().err


def test_cli_nomogram_any_time_and_updated_model(models, tmp_path, capsys):
    """--time gives DFS at any time; a recalibrated model (parent, update) is read unchanged."""
    doc = read_nomogram_model(models["subset"])
    new = updated_nomogram_model(doc, kind="recalibration", slope=0.8, baseline_times=[10.0, 40.0],
                                 baseline_cumhaz=[0.02, 0.1], cohort="centre B")
    path = write_model_document(new, tmp_path / "recalibrated.json")
    assert main(cli_args(VALUES, path, "--time", "24", "--time", "50.5", "--json")) == 0
    got = json.loads(capsys.readouterr().out)
    values = dict(v.split("=", 1) for v in VALUES)
    expected = NomogramCalculator.from_json(path).predict_clinical(values, times=[24, 50.5])
    assert got["survival"] == {"24.0": expected.survival[24.0], "50.5": expected.survival[50.5]}
    assert main(cli_args(VALUES, path, "--time", "24")) == 0
    out = capsys.readouterr().out
    assert "2-year DFS (24 months)" in out and "3-year" not in out
    assert "model Model_clinic+dl (recalibrated): recalibration update of Model_clinic+dl" in out


def test_cli_nomogram_refuses_an_old_format(models, tmp_path, capsys):
    doc = json.loads(models["subset"].read_text())
    path = tmp_path / "old.json"
    path.write_text(json.dumps({**doc, "format": "npc-nomogram/1"}))
    assert main(cli_args(VALUES, path)) == 2
    assert "format 'npc-nomogram/1' is not read by this version of npc_lib (it reads npc-nomogram/3)" \
        in capsys.readouterr().err


def test_cli_nomogram_full_model_has_every_readme_variable(models):
    doc = json.loads(models["all"].read_text())
    given = {a.split("=", 1)[0] for a in readme_example() if "=" in a}
    assert {r["variable"] for r in doc["coding"].values()} == given

