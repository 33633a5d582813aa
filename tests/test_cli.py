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


def test_cli_nomogram_from_exported_model(tmp_path, capsys):
    import numpy as np

    from npc_lib.stats.cox import fit_cox
    from npc_lib.stats.nomogram import Nomogram
    from npc_lib.stats.nomogram_export import write_nomogram_model

    rng = np.random.default_rng(1)
    d = pd.DataFrame({"age": rng.normal(45, 10, 120).round(), "ebv_dna_ge_4000": rng.integers(0, 2, 120) * 1.0})
    d["t"] = rng.exponential(50, 120) + 1
    d["e"] = (rng.random(120) < 0.6).astype(int)
    nom = Nomogram.from_cox(fit_cox(d, "t", "e", ["age", "ebv_dna_ge_4000"]), d[["age", "ebv_dna_ge_4000"]])
    coding = {"age": {"variable": "age", "kind": "number"},
              "ebv_dna_ge_4000": {"variable": "ebv_dna", "kind": "threshold", "op": ">=", "cut": 4000}}
    model = write_nomogram_model(nom, tmp_path / "nomogram.json", times=[36, 60], coding=coding)
    assert main(["nomogram", "--model", str(model), "--value", "age=50", "--value", "ebv_dna=5000", "--json"]) == 0
    import json

    out = json.loads(capsys.readouterr().out)
    expected = float(nom.total_points(pd.DataFrame({"age": [50.0], "ebv_dna_ge_4000": [1.0]}))[0])
    assert out["total_points"] == pytest.approx(expected)
    assert set(out["survival"]) == {"36.0", "60.0"}
    assert main(["nomogram", "--model", str(model), "--value", "age=50"]) == 2
    assert "missing variable(s) ['ebv_dna']" in capsys.readouterr().err
