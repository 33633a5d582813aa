"""Tests of npc_lib.run.analysis: the chapters' shared steps."""

import numpy as np
import pandas as pd
import pytest

from npc_lib.run.analysis import (calibration_by_cohort, cindex_records, model_scores, net_benefit_at,
                                  performance_by_cohort)
from npc_lib.stats import fit_cox


@pytest.fixture
def frame():
    rng = np.random.default_rng(3)
    x = rng.normal(size=120)
    t = rng.exponential(30 * np.exp(-0.8 * x))
    return pd.DataFrame({"time": np.minimum(t, 80.0), "event": (t < 80.0).astype(int), "x": x,
                         "DL_T1_sig": x + rng.normal(size=120)})


def test_model_scores_order_and_values(frame):
    fit = fit_cox(frame, "time", "event", ["x"])
    s = model_scores(frame, {"m": fit}, ["DL_T1_sig"])
    assert list(s) == ["DL_T1_sig", "m"]
    assert np.allclose(s["m"], fit.linear_predictor(frame))
    with pytest.raises(ValueError, match=r"frame: missing column\(s\) \['DL_T2_sig'\]"):
        model_scores(frame, {}, ["DL_T2_sig"])


def test_calibration_by_cohort_rows(frame):
    fit = fit_cox(frame, "time", "event", ["x"])
    curves, table = calibration_by_cohort({"a": frame, "b": frame.iloc[:60]}, fit, {12.0: "1-year", 36.0: "3-year"},
                                          groups=3)
    assert list(curves) == ["a", "b"] and set(curves["a"]) == {"1-year", "3-year"}
    assert len(table) == 4 and set(table.columns) >= {"cohort", "time", "p", "chi2", "groups"}
    assert table["p"].between(0, 1).all()


def test_cindex_records_and_net_benefit():
    t = pd.DataFrame({"cohort": ["train", "test"], "model": ["m", "m"], "c_index": [0.7, np.nan],
                      "lower": [0.6, np.nan], "upper": [0.8, np.nan], "p_value": [0.01, np.nan]})
    r = cindex_records(t)
    assert r["train"]["m"]["c_index"] == 0.7 and r["test"]["m"]["c_index"] is None
    d = pd.DataFrame({"model": ["m"], "threshold": [0.1], "net_benefit": [np.nan]})
    assert net_benefit_at(d, "m", 0.1) is None
    with pytest.raises(ValueError, match="missing"):
        net_benefit_at(d.drop(columns="net_benefit"), "m", 0.1)


def test_performance_by_cohort_nomogram_oracle_and_notes(frame):
    fit = fit_cox(frame, "time", "event", ["x"])
    d = frame.assign(patient_id=[f"P{i}" for i in range(len(frame))])
    truth = pd.DataFrame({"patient_id": d["patient_id"], "lp_total": d["x"]})
    short = d[d["time"] < 30].iloc[:20]  # followed for less than the last horizon: not estimable
    table, curves, notes = performance_by_cohort({"a": d, "b": short}, fit, [12.0, 36.0], truth=truth, n_boot=10,
                                                 n_grid=6)
    assert set(table["model"]) == {"nomogram", "oracle"} and set(table["cohort"]) == {"a"}
    assert ("a", "oracle") in curves and len(notes) == 2 and notes[0].startswith("b, nomogram: not estimable")


def test_choose_model_knob_stepwise_none_or_fixed():
    from npc_lib.run.analysis import choose_model

    rng = np.random.default_rng(0)
    x = rng.normal(size=80)
    d = pd.DataFrame({"time": rng.exponential(np.exp(-x)), "event": 1, "x": x, "z": rng.normal(size=80)})
    assert choose_model(d, ["x", "z"], name="m").selected == ["x"]
    none = choose_model(d, ["x", "z"], "none", name="m")
    assert none.used == [] and np.all(none.fit.linear_predictor(d) == 0.0)
    assert choose_model(d, ["x"], " x , z ", name="m").used == ["x", "z"]
    with pytest.raises(ValueError, match=r"model m: covariates \['w'\] not in the model frame"):
        choose_model(d, ["x"], "x,w", name="m")


def test_nomogram_of_a_model_without_covariate_or_with_a_constant_one():
    from npc_lib.run.analysis import nomogram_of
    from npc_lib.stats import fit_cox

    d = pd.DataFrame({"time": [1.0, 2, 3, 4, 5, 6], "event": [1, 0, 1, 1, 0, 1], "x": [.1, .5, .2, .9, .3, .8]})
    nom, why = nomogram_of(fit_cox(d, "time", "event", ["x"]), d)
    assert why is None and list(nom.covariates) == ["x"]
    nom, why = nomogram_of(fit_cox(d, "time", "event", []), d)
    assert nom is None and "Model_clinic+dl has no covariate" in why
    fit = fit_cox(d, "time", "event", ["x"])
    nom, why = nomogram_of(fit, d.assign(x=1.0))
    assert nom is None and "constant in the training cohort" in why


def test_oracle_concordance_names_patients_without_truth():
    from npc_lib.run.analysis import oracle_concordance

    f = pd.DataFrame({"patient_id": ["a", "b", "c"], "t": [1.0, 2.0, 3.0], "e": [1, 1, 0]})
    truth = pd.DataFrame({"patient_id": ["a", "b"], "lp_total": [2.0, 1.0]})
    with pytest.raises(ValueError, match=r"no true risk for patient\(s\) \['c'\]"):
        oracle_concordance(f, truth, ["lp_total"], time="t", event="e")
    full = pd.concat([truth, pd.DataFrame({"patient_id": ["c"], "lp_total": [0.0]})])
    t = oracle_concordance(f, full, ["lp_total"], time="t", event="e", scores={"m": np.array([0.0, 1.0, 2.0])})
    assert t["model"].tolist() == ["truth: lp_total", "m"] and t["c_index"].tolist() == [1.0, 0.0]
