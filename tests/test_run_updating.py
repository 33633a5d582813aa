"""Model updating at a new centre (npc_lib.run.updating) on synthetic patients, against stats.transport and naive sums."""

import math

import numpy as np
import pandas as pd
import pytest

from npc_lib import stats
from npc_lib.run.updating import (baseline_update, equivalent_cutoff, model_predictions, model_xbeta, recalibration,
                                  refit, step_cumhazard, transport_measures, update_and_evaluate, updating_split)
from npc_lib.stats.cox import fit_cox
from npc_lib.stats.nomogram import Nomogram
from npc_lib.stats.nomogram_export import NomogramCalculator, nomogram_model, read_nomogram_model, write_model_document

_CODING = {"x": {"variable": "x", "kind": "number"}, "z": {"variable": "sex", "kind": "level", "levels": ["M", "F"],
                                                           "level": "F"}}


def _patients(n, seed, *, scale=1.0, baseline=0.02, prefix="P"):
    rng = np.random.default_rng(seed)
    x, z = rng.normal(size=n), rng.integers(0, 2, n)
    lp = scale * (0.8 * x + 0.5 * z)
    te = rng.exponential(1.0 / (baseline * np.exp(lp)))
    tc = rng.uniform(10, 90, n)
    return pd.DataFrame({"patient_id": [f"{prefix}{i:04d}" for i in range(n)], "time": np.minimum(te, tc).round(2),
                         "event": (te <= tc).astype(int), "x": x, "z": z.astype(float)})


@pytest.fixture(scope="module")
def locked():
    dev = _patients(300, 1)
    nom = Nomogram.from_cox(fit_cox(dev, "time", "event", ["x", "z"]), dev)
    return nomogram_model(nom, times=[36, 60], coding=_CODING, name="locked")


@pytest.fixture(scope="module")
def external():
    # another centre: half the baseline hazard, a predictor effect 0.6 times as strong
    return _patients(400, 2, scale=0.6, baseline=0.01, prefix="E")


def _naive_breslow(time, event, w, at):
    """sum over event times u <= at of d(u) / sum_{time >= u} w, by loops."""
    h = 0.0
    for u in sorted(set(time[event == 1])):
        if u <= at:
            h += np.sum((time == u) & (event == 1)) / np.sum(w[time >= u])
    return h


def test_model_predictions_equal_calculator(locked, external):
    pred = model_predictions(locked, external.head(20), [36, 60])
    calc = NomogramCalculator.from_model(locked)
    for row, p in zip(external.head(20).itertuples(), pred.itertuples()):
        r = calc.predict({"x": row.x, "z": row.z}, times=[36, 60])
        assert p.total_points == pytest.approx(r.total_points, rel=1e-10, abs=1e-9)
        assert p.xbeta == pytest.approx(r.xbeta, rel=1e-10, abs=1e-12)
        assert p.surv_36 == pytest.approx(r.survival[36.0], rel=1e-10)
        assert p.risk_60 == pytest.approx(1 - r.survival[60.0], rel=1e-10)
        assert p.expected == pytest.approx(step_cumhazard(locked, [row.time])[0] * math.exp(r.linear_predictor))


def test_baseline_update_equals_naive_breslow(locked, external):
    new = baseline_update(locked, external, parent={"sha256": "0" * 64}, cohort="centre B")
    assert new["update"]["kind"] == "baseline" and new["update"]["cohort"] == "centre B"
    assert new["parent"] == {"name": "locked", "sha256": "0" * 64}
    assert new["update"]["n"] == len(external) and new["update"]["events"] == int(external.event.sum())
    xb = model_xbeta(locked, external)
    t, e = external.time.to_numpy(), external.event.to_numpy()
    pred = model_predictions(new, external, [36, 60])
    for i in (0, 7, 99):
        for at in (36, 60):
            naive = math.exp(-_naive_breslow(t, e, np.exp(xb), at) * math.exp(xb[i]))
            assert pred[f"surv_{at}"].iloc[i] == pytest.approx(naive, rel=1e-9)
    # the same points for every patient: only the baseline changed
    np.testing.assert_allclose(pred["total_points"], model_predictions(locked, external, [36])["total_points"])


def test_recalibration_slope_and_baseline(locked, external, tmp_path):
    new = recalibration(locked, external)
    xb = model_xbeta(locked, external)
    t, e = external.time.to_numpy(), external.event.to_numpy()
    s = stats.calibration_slope(t, e, xb)
    assert new["update"]["kind"] == "recalibration"
    assert new["update"]["slope"] == pytest.approx(s.slope, rel=1e-12)
    assert new["update"]["slope_se"] == pytest.approx(s.se, rel=1e-12)
    assert 0.3 < s.slope < 0.9  # the external effect is 0.6 times the development one
    h = stats.update_baseline(t, e, xb, [36.0, 60.0], slope=s.slope)
    pred = model_predictions(new, external, [36, 60])
    np.testing.assert_allclose(pred["surv_36"], np.exp(-h.cumhaz[0] * np.exp(s.slope * xb)), rtol=1e-9)
    np.testing.assert_allclose(pred["surv_60"], np.exp(-_naive_breslow(t, e, np.exp(s.slope * xb), 60)
                                                       * np.exp(s.slope * xb)), rtol=1e-9)
    np.testing.assert_allclose(model_xbeta(new, external), s.slope * xb, rtol=1e-12)
    # a recalibrated model keeps the points; its file is read back unchanged by the calculator
    np.testing.assert_allclose(pred["total_points"], model_predictions(locked, external, [36])["total_points"])
    doc = read_nomogram_model(write_model_document(new, tmp_path / "m.json"))
    r = NomogramCalculator.from_model(doc).predict({"x": external.x.iloc[3], "z": external.z.iloc[3]}, times=[60])
    assert r.survival[60.0] == pytest.approx(pred["surv_60"].iloc[3], rel=1e-9)


def test_recalibration_refuses_a_reversed_predictor(locked, external):
    reversed_ = external.assign(x=-external.x, z=1 - external.z)
    with pytest.raises(ValueError, match="not positive"):
        recalibration(locked, reversed_)


def test_refit_equals_cox_on_new_centre(locked, external):
    new = refit(locked, external)
    fit = fit_cox(external, "time", "event", ["x", "z"])
    assert new["update"] == {"kind": "refit", "n": len(external), "events": int(external.event.sum())}
    assert new["parent"]["name"] == "locked" and new["coding"] == locked["coding"]
    for c in ("x", "z"):
        assert new["beta"][c] == pytest.approx(float(fit.params[c]), rel=1e-9)


def test_updating_split_disjoint_stratified_seeded(external):
    s = updating_split(external, update_fraction=0.5, seed=3)
    assert s["patient_id"].tolist() == external["patient_id"].tolist()
    ev = external.set_index("patient_id")["event"]
    for p in ("update", "evaluate"):
        ids = s.loc[s.part == p, "patient_id"]
        assert abs(ev[ids].sum() - external.event.sum() / 2) <= 1
    assert s.equals(updating_split(external, update_fraction=0.5, seed=3))
    assert not s.equals(updating_split(external, update_fraction=0.5, seed=4))


@pytest.mark.parametrize("kwargs, match", [({"update_fraction": 1.0}, "strictly between"),
                                           ({"update_fraction": "half"}, "a number strictly between")])
def test_updating_split_bad_fraction(external, kwargs, match):
    with pytest.raises(ValueError, match=match):
        updating_split(external, **kwargs)


def test_updating_split_duplicate_patient(external):
    with pytest.raises(ValueError, match="listed twice"):
        updating_split(pd.concat([external.head(3), external.head(1)]))


def test_update_and_evaluate_never_on_the_updating_patients(locked, external):
    split = updating_split(external, seed=0)
    models, measures, notes = update_and_evaluate(locked, external, split, [36, 60])
    assert not notes and set(models) == {"baseline", "recalibration", "refit"}
    n_eval = int((split.part == "evaluate").sum())
    assert all(m["n"] == n_eval for m in measures.values())
    # the models depend on the updating patients alone: other outcomes for the evaluation patients change nothing
    ev = external["patient_id"].isin(split.loc[split.part == "evaluate", "patient_id"])
    changed = external.assign(time=np.where(ev, external.time / 2, external.time), event=np.where(ev, 1, external.event))
    models2, measures2, _ = update_and_evaluate(locked, changed, split, [36, 60])
    assert models2 == models
    assert measures2["locked"]["events"] > measures["locked"]["events"]
    # the measures are those of stats.transport on the evaluation patients
    e = external[ev]
    pred = model_predictions(models["recalibration"], e, [36, 60])
    s = stats.calibration_slope(e.time, e.event, pred.xbeta)
    assert measures["recalibration"]["slope"]["slope"] == pytest.approx(s.slope, rel=1e-9)
    oe = stats.observed_expected(e.time, e.event, pred.risk_60, 60)
    assert measures["recalibration"]["oe"]["60"]["ratio"] == pytest.approx(oe.ratio, rel=1e-9)
    p = stats.poisson_calibration(e.event, pred.expected, pred.xbeta)
    assert measures["recalibration"]["poisson"]["citl"] == pytest.approx(p.citl, rel=1e-7, abs=1e-9)
    # the locked model under-predicts nothing here (half the baseline hazard): O/E below 1; the updates fix it
    assert measures["locked"]["oe"]["60"]["ratio"] < 0.9
    assert abs(measures["baseline"]["oe"]["60"]["ratio"] - 1) < abs(measures["locked"]["oe"]["60"]["ratio"] - 1)


def test_transport_measures_missing_prediction(locked, external):
    pred = model_predictions(locked, external.head(5), [36])
    with pytest.raises(ValueError, match="no prediction for patient"):
        transport_measures(external.head(6), pred, [36])


def test_model_xbeta_names_bad_covariate(locked, external):
    with pytest.raises(ValueError, match=r"covariate\(s\) \['x'\].*E0002"):
        model_xbeta(locked, external.assign(x=external.x.where(external.index != 2)))


def test_equivalent_cutoff_keeps_the_predicted_risk(locked, external):
    new = refit(locked, external)
    cut = 50.0
    new_cut = equivalent_cutoff(locked, new, cut, 60.0)
    a, b = NomogramCalculator.from_model(locked), NomogramCalculator.from_model(new)
    s_locked = math.exp(-a.baseline_cumhazard([60])[0] * math.exp(a.intercept + cut / a.scale))
    s_new = math.exp(-b.baseline_cumhazard([60])[0] * math.exp(b.intercept + new_cut / b.scale))
    assert s_new == pytest.approx(s_locked, rel=1e-10)
    with pytest.raises(ValueError, match="no baseline hazard by 0.001"):
        equivalent_cutoff(locked, new, cut, 0.001)
