import pandas as pd
import pytest

from npc_lib.cli import build_parser, main


def test_cli_parser_knows_every_command():
    sub = build_parser()._subparsers._group_actions[0].choices
    assert {"simulate", "validate", "run", "book", "train", "crossval"} <= set(sub)


def test_cli_simulate_then_validate(tmp_path, capsys):
    out = tmp_path / "twin"
    assert main(["-q", "simulate", "--out", str(out), "--n", "5", "--seed", "3"]) == 0
    clinical = pd.read_csv(out / "clinical.csv")
    assert len(clinical) == 5
    assert main(["-q", "validate", str(out)]) == 0
    assert "5 patients, valid" in capsys.readouterr().out


def test_cli_validate_reports_bad_cohort(tiny_cohort, capsys):
    clinical = pd.read_csv(tiny_cohort / "clinical.csv")
    clinical.loc[2, "sex"] = "X"
    clinical.to_csv(tiny_cohort / "clinical.csv", index=False)
    assert main(["validate", str(tiny_cohort)]) == 2
    err = capsys.readouterr().err
    assert "npc validate: error:" in err and "sex" in err and clinical.loc[2, "patient_id"] in err


def test_cli_run_unknown_profile(capsys):
    assert main(["run", "--profile", "nope"]) == 2
    assert "unknown profile 'nope'" in capsys.readouterr().err


def test_cli_train_rejects_unknown_sequence():
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--cohort", "c", "--sequence", "T3", "--out", "o"])
