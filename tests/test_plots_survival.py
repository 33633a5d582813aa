"""Survival figures: Kaplan-Meier with numbers at risk, calibration, TD-ROC, decision curves, forest."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npc_lib.plots.survival import (km_steps, numbers_at_risk, plot_calibration, plot_decision_curve, plot_forest,
                                    plot_km, plot_td_roc)
from npc_lib.stats import calibration_curve, decision_curve, kaplan_meier, time_dependent_roc, univariate_cox


def _data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    risk = rng.normal(size=n)
    te = rng.exponential(50.0 * np.exp(-risk))
    tc = rng.uniform(10.0, 90.0, n)
    return np.minimum(te, tc).round(1), (te <= tc).astype(int), risk


# --------------------------------------------------------------------------- Kaplan-Meier


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 20), st.booleans()), min_size=1, max_size=30))
def test_km_steps_matches_kaplan_meier(rows):
    t = np.array([r[0] for r in rows], float)
    e = np.array([r[1] for r in rows], int)
    steps = km_steps(t, e)
    assert steps.time.iloc[0] == 0.0 and steps.survival.iloc[0] == 1.0
    assert np.all(np.diff(steps.survival) <= 1e-12)
    if e.any():
        ref = kaplan_meier(t, e, times=np.unique(t))
        got = steps.set_index("time").loc[np.unique(t), "survival"].to_numpy()
        assert np.allclose(got, ref.survival)
    else:
        assert np.all(steps.survival == 1.0)


def test_numbers_at_risk_naive():
    t, _, risk = _data(50, seed=3)
    g = np.where(risk > 0, "high", "low")
    at = [0, 12, 24, 60]
    tab = numbers_at_risk(t, g, at)
    for lv in ("high", "low"):
        assert tab.loc[lv].tolist() == [int(sum(1 for ti, gi in zip(t, g) if gi == lv and ti >= a)) for a in at]
    with pytest.raises(ValueError, match="group length 2 differs"):
        numbers_at_risk(t, ["a", "b"], at)


def test_plot_km_curves_and_risk_table():
    t, e, risk = _data()
    g = (risk > 0.5).astype(int)
    fig = plot_km(t, e, g, labels={0: "Low risk", 1: "High risk"}, annotation="HR 3.0", title="KM")
    assert isinstance(fig, go.Figure) and fig.layout.title.text == "KM"
    curves = [tr for tr in fig.data if tr.mode == "lines"]
    assert [c.name.split(" (")[0] for c in curves] == ["Low risk", "High risk"]
    assert f"n={int((g == 1).sum())}, events={int(e[g == 1].sum())}" in curves[1].name
    hi = km_steps(t[g == 1], e[g == 1])
    assert np.allclose(curves[1].y, hi.survival)
    text = [tr for tr in fig.data if tr.mode == "text"]
    at = np.arange(0.0, t.max() + 1e-9, 12.0)
    assert [int(x) for x in text[0].text] == numbers_at_risk(t, g, at).loc[0].tolist()
    assert any(a.text == "HR 3.0" for a in fig.layout.annotations)


def test_plot_km_group_without_events_and_label_errors():
    t = np.array([1.0, 2, 3, 4, 5, 6])
    e = np.array([1, 1, 1, 0, 0, 0])
    g = np.array([1, 1, 1, 0, 0, 0])
    fig = plot_km(t, e, g)
    low = next(tr for tr in fig.data if tr.mode == "lines" and tr.name.startswith("0"))
    assert set(np.asarray(low.y)) == {1.0}
    with pytest.raises(ValueError, match=r"no label for group\(s\) \['1'\]"):
        plot_km(t, e, g, labels={0: "low"})
    with pytest.raises(ValueError, match="event must be 0/1"):
        plot_km(t, [2] * 6, g)


# --------------------------------------------------------------------------- calibration


def test_plot_calibration_points_are_the_table():
    t, e, risk = _data(300, seed=1)
    pred = np.exp(-np.exp(risk) * 36.0 / 50.0)
    cal = calibration_curve(t, e, pred, 36.0, m=60)
    fig = plot_calibration({"3-year": cal, "5-year": None})
    series = fig.data[0]
    tab = cal.table[cal.table.km.notna()]
    assert np.allclose(series.x, tab.mean_predicted) and np.allclose(series.y, tab.km)
    assert ("p=" in series.name or "p<" in series.name) and fig.data[-1].name == "ideal"
    assert "not estimable on this cohort: 5-year" in fig.layout.annotations[0].text
    with pytest.raises(ValueError, match="non-empty mapping"):
        plot_calibration({})


# --------------------------------------------------------------------------- TD-ROC


def test_plot_td_roc_panels_and_legend():
    t, e, risk = _data(150, seed=2)
    rocs = {m: time_dependent_roc(t, e, s, 36.0) for m, s in (("model", risk), ("noise", -risk))}
    fig = plot_td_roc({"train, 3 years": rocs, "test, 3 years": {"model": rocs["model"]}, "empty": {}}, cols=2)
    curves = [tr for tr in fig.data if tr.name in ("model", "noise")]
    assert sum(tr.showlegend for tr in curves) == 2           # one legend entry per model
    assert curves[0].line.color == curves[2].line.color         # a model keeps its colour
    assert np.allclose(curves[0].x, rocs["model"].fpr)
    texts = [a.text for a in fig.layout.annotations if a.text.startswith("AUC")]
    assert f"{rocs['model'].auc:.3f}" in texts[0] and texts[2].endswith("not estimable")
    with pytest.raises(ValueError, match="non-empty mapping"):
        plot_td_roc({})


# --------------------------------------------------------------------------- decision curves


def test_plot_decision_curve_lines():
    t, e, risk = _data(200, seed=4)
    r = 1 / (1 + np.exp(-risk - 1))
    dc = decision_curve(t, e, r, 36.0, [0.05, 0.1, 0.2])
    tab = pd.concat([pd.DataFrame({"model": "m", "threshold": dc.threshold, "net_benefit": dc.net_benefit}),
                     pd.DataFrame({"model": "Treat all", "threshold": dc.threshold, "net_benefit": dc.treat_all}),
                     pd.DataFrame({"model": "Treat none", "threshold": dc.threshold, "net_benefit": 0.0})])
    fig = plot_decision_curve(tab)
    assert [tr.name for tr in fig.data] == ["m", "Treat all", "Treat none"]
    assert np.allclose(fig.data[0].y, dc.net_benefit) and fig.data[2].line.dash == "dash"
    empty = plot_decision_curve(pd.DataFrame(columns=["model", "threshold", "net_benefit"]))
    assert "not estimable" in empty.layout.annotations[0].text
    with pytest.raises(ValueError, match="columns"):
        plot_decision_curve(pd.DataFrame({"model": ["m"]}))


# --------------------------------------------------------------------------- forest


def test_plot_forest_values_and_not_estimable_rows():
    t, e, risk = _data(200, seed=5)
    d = pd.DataFrame({"time": t, "event": e, "risk": risk, "noise": np.random.default_rng(0).normal(size=200)})
    tab = univariate_cox(d, "time", "event", ["risk", "noise"])
    tab.loc["broken"] = [200, 10, np.nan, np.nan, 0.0, 0.0, np.inf, 1.0]
    fig = plot_forest(tab, labels={"risk": "Risk score"})
    pts = fig.data[0]
    assert list(pts.y) == ["Risk score", "noise", "broken"]
    assert pts.x[0] == pytest.approx(tab.loc["risk", "hr"]) and np.isnan(pts.x[2])
    assert pts.text[0].endswith("p<0.001") and pts.text[2] == "not estimable"
    assert fig.layout.xaxis.type == "log"
    with pytest.raises(ValueError, match="columns"):
        plot_forest(pd.DataFrame({"hr": [1.0]}))
    with pytest.raises(ValueError, match="table is empty"):
        plot_forest(tab.iloc[:0])
