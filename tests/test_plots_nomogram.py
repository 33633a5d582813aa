"""Nomogram drawing: rms layout (rows, tick positions), patient marks, input completion."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from npc_lib.plots.nomogram import _CHAR_WIDTH, nomogram_inputs, nomogram_layout, outside_axes, plot_nomogram
from npc_lib.stats import Nomogram, fit_cox


@pytest.fixture(scope="module")
def nom():
    rng = np.random.default_rng(7)
    n = 300
    d = pd.DataFrame({"age": rng.integers(20, 75, n).astype(float), "ldh": rng.lognormal(5.2, 0.3, n),
                      "ebv": rng.integers(0, 2, n).astype(float), "sig": rng.normal(size=n)})
    lp = 0.03 * d.age + 0.004 * d.ldh + 0.5 * d.ebv + 0.9 * d.sig
    te = rng.exponential(80.0 * np.exp(-(lp - lp.mean())))
    tc = rng.uniform(30.0, 100.0, n)
    d["time"], d["event"] = np.minimum(te, tc), (te <= tc).astype(int)
    fit = fit_cox(d, "time", "event", ["age", "ldh", "ebv", "sig"])
    return Nomogram.from_cox(fit, d[["age", "ldh", "ebv", "sig"]])


def test_layout_rows_in_rms_order(nom):
    rows = nomogram_layout(nom, (36, 60), time_labels=("3-year DFS", "5-year DFS"), labels={"sig": "DL sig"},
                           show_lp=True)
    assert [r.kind for r in rows] == ["points", "predictor", "predictor", "predictor", "predictor", "total", "lp",
                                      "survival", "survival"]
    assert [r.label for r in rows][4] == "DL sig" and rows[-1].label == "5-year DFS"
    assert rows[0].ticks.x.min() == 0 and rows[0].ticks.x.max() == nom.maxscale


def test_layout_predictor_ticks_are_points(nom):
    rows = {r.key: r for r in nomogram_layout(nom) if r.kind == "predictor"}
    for c, axis in nom.variable_axes().items():
        assert np.allclose(rows[c].ticks.x, axis.points) and np.allclose(rows[c].ticks.value, axis.value)
    assert max(r.ticks.x.max() for r in rows.values()) == pytest.approx(nom.maxscale)


def test_layout_total_and_survival_axes_share_one_scale(nom):
    rows = nomogram_layout(nom, (36.0, 60.0))
    total = next(r for r in rows if r.kind == "total")
    f = nom.maxscale / total.ticks.value.max()
    assert np.allclose(total.ticks.x, total.ticks.value * f) and total.ticks.x.max() == pytest.approx(nom.maxscale)
    for r in (r for r in rows if r.kind == "survival"):
        assert len(r.ticks) >= 3
        back = nom.survival(r.ticks.x / f, r.key)                  # x -> total points -> S(t)
        assert np.allclose(back, r.ticks.value, atol=0.01)
        assert np.all(np.diff(r.ticks.value[np.argsort(r.ticks.x)]) < 0)   # more points, lower survival


def test_layout_labels_do_not_overlap(nom):
    for r in nomogram_layout(nom):
        lab = r.ticks[r.ticks.labelled].sort_values("x")
        assert len(lab) >= 1
        half = _CHAR_WIDTH * (lab.text.str.len().to_numpy() + 1) / 2
        assert np.all(lab.x.to_numpy()[1:] - half[1:] >= lab.x.to_numpy()[:-1] + half[:-1] - 1e-9)


def test_layout_value_labels_and_errors(nom):
    ebv = next(r for r in nomogram_layout(nom, value_labels={"ebv": {0: "<4000", 1: ">=4000"}}) if r.key == "ebv")
    assert ebv.ticks.text.tolist() == ["<4000", ">=4000"]
    with pytest.raises(ValueError, match="time_labels: 1 labels for 2 times"):
        nomogram_layout(nom, (36, 60), time_labels=["x"])
    with pytest.raises(ValueError, match="nom must be a Nomogram"):
        nomogram_layout("nomogram")


def test_nomogram_inputs_fill_adjust_to(nom):
    row, filled, ignored = nomogram_inputs(nom, {"age": 50, "sig": 0.4, "height": 170})
    assert filled == ["ldh", "ebv"] and ignored == ["height"]
    adjust = nom.datadist.limits.loc["Adjust to"]
    assert row.iloc[0].tolist() == [50.0, adjust["ldh"], adjust["ebv"], 0.4]
    assert adjust["ebv"] == 0.0                                  # binary: the lower level
    with pytest.raises(ValueError, match=r"values\['age'\] is not a finite number"):
        nomogram_inputs(nom, {"age": np.nan})


def test_plot_nomogram_marks_patient(nom):
    patient, _, _ = nomogram_inputs(nom, {"age": 60, "ldh": 300, "ebv": 1, "sig": 0.5})
    fig = plot_nomogram(nom, (36, 60), patient=patient, title="N")
    assert isinstance(fig, go.Figure) and fig.layout.title.text == "N"
    marks = fig.data[-1]
    pts = nom.points(patient).iloc[0]
    rows = nomogram_layout(nom, (36, 60))
    total_row = next(r for r in rows if r.kind == "total")
    f = nom.maxscale / total_row.ticks.value.max()
    tp = float(nom.total_points(patient)[0])
    assert np.allclose(marks.x[:4], pts.to_numpy()) and np.allclose(marks.x[4:], tp * f)
    s60 = nom.survival([tp], 60)[0]
    assert marks.text[-1] == f"{s60:.1%}" and marks.customdata[0].startswith("age: ")
    labels = fig.data[2].text
    assert list(labels) == [f"<b>{r.label}</b>" for r in rows]
    with pytest.raises(ValueError, match="one-row DataFrame"):
        plot_nomogram(nom, patient=pd.concat([patient, patient]))


def test_plot_nomogram_without_patient(nom):
    fig = plot_nomogram(nom, (36,))
    assert len(fig.data) == 3 and not fig.layout.xaxis.visible


def test_plot_nomogram_value_outside_axis_is_hollow_at_axis_end(nom):
    patient, _, _ = nomogram_inputs(nom, {"age": 60, "ldh": 300, "ebv": 1, "sig": 50.0})
    assert outside_axes(nom, patient) == ["sig"]
    fig = plot_nomogram(nom, (36,), patient=patient)
    hollow = fig.data[-1]
    assert hollow.marker.symbol == "circle-open" and "outside the axis" in hollow.customdata[0]
    sig_row = next(r for r in nomogram_layout(nom) if r.key == "sig")
    assert hollow.x[0] == pytest.approx(sig_row.ticks.x.max())
    marks = fig.data[-2]
    f = nom.maxscale / next(r for r in nomogram_layout(nom) if r.kind == "total").ticks.value.max()
    assert marks.x[3] == pytest.approx(float(nom.total_points(patient)[0]) * f)   # extrapolated points still count
    with pytest.raises(ValueError, match="one-row DataFrame"):
        outside_axes(nom, pd.concat([patient, patient]))
