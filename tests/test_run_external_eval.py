"""External validation steps (npc_lib.run.external_eval) on synthetic patients with a known truth."""

import math

import numpy as np
import pandas as pd
import pytest

from npc_lib.run.external_eval import (DocumentModel, external_performance, locked_risk_groups, oracle_predictions,
                                       signature_transport)
from npc_lib.run.updating import model_predictions
from npc_lib.stats.concordance import concordance_index
from npc_lib.stats.cox import fit_cox
from npc_lib.stats.nomogram import Nomogram
from npc_lib.stats.nomogram_export import nomogram_model
from npc_lib.twin.truth import true_dfs_survival


def _twin(n, seed, prefix, scale=1150.0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    lp = 0.9 * x
    # the twin's true model: Weibull(0.9, scale) baseline (820 months in development, 1150 at the external centre)
    u = rng.uniform(size=n)
    te = scale * (-np.log(u) / np.exp(lp)) ** (1 / 0.9)
    tc = rng.uniform(20, 100, n)
    ids = [f"{prefix}{i:04d}" for i in range(n)]
    frame = pd.DataFrame({"patient_id": ids, "time": np.minimum(te, tc), "event": (te <= tc).astype(int), "x": x,
                          "DL_T1_sig": x + rng.normal(0, 0.5, n)})
    truth = pd.DataFrame({"patient_id": ids[::-1], "lp_total": lp[::-1], "lp_T1": x[::-1]})
    return frame, truth


@pytest.fixture(scope="module")
def doc():
    dev, _ = _twin(300, 1, "D", scale=820.0)
    nom = Nomogram.from_cox(fit_cox(dev, "time", "event", ["x"]), dev)
    return nomogram_model(nom, times=[36, 60], coding={"x": {"variable": "x", "kind": "number"}}, name="m")


@pytest.fixture(scope="module")
def ext():
    return _twin(400, 2, "E")


def test_document_model_equals_model_predictions(doc, ext):
    frame, _ = ext
    m = DocumentModel(doc)
    pred = model_predictions(doc, frame, [36, 60])
    np.testing.assert_allclose(m.predict_survival(frame, [36, 60]), pred[["surv_36", "surv_60"]].to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(m.total_points(frame), pred["total_points"], rtol=1e-12)
    np.testing.assert_allclose(m.linear_predictor(frame), pred["xbeta"] - doc["center"], rtol=1e-12, atol=1e-12)


def test_oracle_predictions_are_the_true_model(ext):
    frame, truth = ext
    o = oracle_predictions(frame, truth, [36, 60], "external")
    lp = truth.set_index("patient_id").loc[frame.patient_id, "lp_total"].to_numpy()
    np.testing.assert_allclose(o["surv_60"], true_dfs_survival(lp, [60], "external")[:, 0], rtol=1e-12)
    i = 5
    assert o["expected"].iloc[i] == pytest.approx(-math.log(true_dfs_survival([lp[i]], [frame.time.iloc[i]],
                                                                              "external")[0, 0]), rel=1e-10)


def test_oracle_predictions_name_a_patient_without_truth(ext):
    frame, truth = ext
    with pytest.raises(ValueError, match="no lp_total for 1 patient"):
        oracle_predictions(frame, truth.iloc[1:], [36], "external")


def test_external_performance_measures_and_oracle(doc, ext):
    frame, truth = ext
    table, curves, notes = external_performance(frame, DocumentModel(doc), [36, 60], truth=truth, n_boot=10, seed=1)
    assert not notes and set(table.model) == {"nomogram", "oracle"} and set(curves) == {"nomogram", "oracle"}
    nom = table[table.model == "nomogram"].set_index("measure")
    c = concordance_index(frame.time, frame.event, DocumentModel(doc).linear_predictor(frame))
    assert nom.loc["Harrell's C", "estimate"] == pytest.approx(c.c_index, rel=1e-12)
    for m in ("Harrell's C", "Uno's C", "td-AUC at 36", "td-AUC at 60"):
        assert nom.loc[m, "lower"] <= nom.loc[m, "estimate"] <= nom.loc[m, "upper"], m
    assert (table["lower"] <= table["upper"]).all()
    # the oracle is calibrated at its own centre; the development model is not (another baseline)
    ora = table[table.model == "oracle"].set_index("measure")
    assert ora.loc["ICI at 60", "estimate"] < nom.loc["ICI at 60", "estimate"]


def test_signature_transport_columns(ext):
    frame, truth = ext
    dev, dev_truth = _twin(200, 3, "D")
    t = signature_transport(dev, dev_truth, {"external": frame, "external_refitted": frame.assign(
        DL_T1_sig=-frame.DL_T1_sig)}, truth, ["DL_T1_sig"])
    r = t.iloc[0]
    assert r.external == pytest.approx(concordance_index(frame.time, frame.event, frame.DL_T1_sig).c_index)
    assert r.external_refitted == pytest.approx(1 - r.external, abs=1e-9)
    assert r.external_oracle > r.external > 0.5 and r.development_test_oracle > 0.5
    none = signature_transport(dev, None, {"external": frame}, None, ["DL_T1_sig"]).iloc[0]
    assert np.isnan(none.external_oracle) and np.isnan(none.development_test_oracle)


def test_locked_risk_groups_use_the_points_cutoff(doc, ext):
    frame, _ = ext
    m = DocumentModel(doc)
    cut = float(np.median(m.total_points(frame)))
    group, s = locked_risk_groups(frame, m, cut, at=60)
    assert group.tolist() == (m.total_points(frame) > cut).astype(int).tolist()
    assert s["n_high"] + s["n_low"] == len(frame) and s["hr"] > 1
    with pytest.raises(ValueError, match="cutoff_points must be finite"):
        locked_risk_groups(frame, m, float("nan"))


def test_transport_column_formats_and_names_missing(doc, ext):
    from npc_lib.run.external_eval import transport_column
    from npc_lib.run.updating import transport_measures

    frame, _ = ext
    m = transport_measures(frame, model_predictions(doc, frame, [36, 60]), [36, 60])
    col = transport_column(m, "locked")
    assert col.name == "locked" and list(col.index) == ["Harrell's C", "calibration slope", "O/E at 36 months",
                                                         "O/E at 60 months", "calibration-in-the-large (Poisson)"]
    assert col["Harrell's C"].startswith(f"{m['harrell']['c_index']:.3f} (")
    assert transport_column({**m, "slope": None, "poisson": None}, "x")["calibration slope"] == "NA"


def test_cohort_summary_aggregates_only(ext):
    from npc_lib.run.external_eval import cohort_summary

    frame, _ = ext
    clinical = pd.DataFrame({"age": 50.0, "ebv_dna": [5000.0] * 100 + [10.0] * 300, "ldh": 190.0,
                             "scanner": ["D"] * 250 + ["E"] * 150})
    s = cohort_summary(frame, clinical)
    assert s["patients"] == 400 and s["DFS events"] == int(frame.event.sum())
    assert s["scanners"] == "D 250, E 150" and s["EBV DNA >= 4000 copies/mL"] == "25%"
    assert not any("E0" in str(v) for v in s.values())  # no patient identifier
