"""Tests for npc_lib.stats.nomogram against rms::datadist / rms::nomogram (tests/data)."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from npc_lib.stats.cox import fit_cox
from npc_lib.stats.nomogram import Nomogram, datadist, r_pretty

DATA = Path(__file__).parent / "data"
RTOL = 1e-6


@functools.lru_cache(maxsize=None)
def _load(ds: str):
    d = pd.read_csv(DATA / f"{ds}.csv")
    J = json.loads((DATA / f"{ds}.json").read_text())
    dv = pd.read_csv(DATA / f"{ds}_derived.csv")
    nom = Nomogram.from_cox(fit_cox(d, "time", "status", J["fixed_covariates"]), d)
    return d, J, dv, nom


@pytest.mark.parametrize("ds", ["lung", "veteran"])
def test_datadist_matches_r_limits(ds):
    d, J, _, _ = _load(ds)
    R = J["rms"]["datadist_limits"]
    dd = datadist(d, J["fixed_covariates"])
    for c in J["fixed_covariates"]:
        for row in dd.limits.index:
            assert dd.limits.loc[row, c] == pytest.approx(R[c][row], rel=1e-12), (c, row)


@pytest.mark.parametrize("ds", ["lung", "veteran"])
def test_nomogram_scaling_matches_rms(ds):
    _, J, _, nom = _load(ds)
    N = J["rms"]["nomogram"]
    assert nom.scale == pytest.approx(N["points_scale_sc"], rel=RTOL)
    assert nom.maxscale == N["maxscale"]
    assert nom.intercept == pytest.approx(N["intercept"], rel=RTOL)
    assert nom.center == pytest.approx(J["rms"]["center"], rel=RTOL)
    axes = nom.variable_axes()
    for c, V in N["variables"].items():
        assert nom.discrete[c] == V["discrete_axis"], c
        np.testing.assert_array_equal(axes[c]["value"], V["axis_values"])
        np.testing.assert_allclose(axes[c]["points"], V["axis_points"], rtol=RTOL, atol=1e-8, err_msg=c)
        assert nom.points_per_unit[c] == pytest.approx(V["points_per_unit"], rel=RTOL)
        assert nom.xbeta_min[c] == pytest.approx(V["xbeta_min"], rel=RTOL, abs=1e-12)
        assert nom.xbeta_max[c] == pytest.approx(V["xbeta_max"], rel=RTOL, abs=1e-12)
    assert max(float(p["points"].max()) for p in axes.values()) == pytest.approx(100.0)


@pytest.mark.parametrize("ds", ["lung", "veteran"])
def test_nomogram_axes_match_rms(ds):
    _, J, _, nom = _load(ds)
    N = J["rms"]["nomogram"]
    np.testing.assert_array_equal(nom.total_points_axis(), N["total_points_axis"])
    lp = nom.lp_axis()
    np.testing.assert_allclose(lp["lp"], N["lp_axis"]["lp"], atol=1e-12)
    np.testing.assert_allclose(lp["points"], N["lp_axis"]["points"], rtol=RTOL)
    for t in (365, 730):
        ax = nom.survival_axis(t)
        np.testing.assert_allclose(ax["surv"], N[f"S{t}_axis"]["surv"])
        np.testing.assert_allclose(ax["points"], N[f"S{t}_axis"]["points"], rtol=RTOL)


@pytest.mark.parametrize("ds", ["lung", "veteran"])
def test_nomogram_points_to_survival_grid_matches_rms(ds):
    _, J, _, nom = _load(ds)
    g = J["rms"]["nomogram"]["grid"]
    np.testing.assert_allclose(nom.linear_predictor(g["total_points"]), g["lp_centered"], rtol=RTOL, atol=1e-9)
    for t in (365, 730):
        np.testing.assert_allclose(nom.survival(g["total_points"], t), g[f"S{t}_rms"], rtol=RTOL)


@pytest.mark.parametrize("ds", ["lung", "veteran"])
def test_nomogram_total_points_per_subject_match_rms(ds):
    d, _, dv, nom = _load(ds)
    tp = nom.total_points(d)
    np.testing.assert_allclose(tp, dv["nomogram_total_points"], rtol=RTOL, atol=1e-8)
    np.testing.assert_allclose(nom.points(d).sum(axis=1), tp, rtol=1e-12)
    np.testing.assert_allclose(nom.linear_predictor(tp), dv["lp_cph_centered"], rtol=RTOL, atol=1e-9)


def test_nomogram_survival_agrees_with_predict_survival():
    d, J, _, nom = _load("lung")
    S = nom.model.predict_survival(d, [365])[:, 0]
    np.testing.assert_allclose(nom.survival(nom.total_points(d), 365), S, rtol=1e-10)
    assert np.all(np.diff(nom.survival(np.linspace(0, 200, 41), 365)) < 0)   # more points, worse


def test_nomogram_ranges_override_axis():
    d, J, _, nom = _load("lung")
    custom = Nomogram.from_cox(nom.model, d, ranges={"age": [40, 50, 60, 70, 80]})
    np.testing.assert_array_equal(custom.axis_values["age"], [40, 50, 60, 70, 80])
    assert custom.xbeta_min["age"] == pytest.approx(40 * nom.beta["age"])
    assert custom.scale == pytest.approx(nom.scale)   # ph_ecog still widest
    with pytest.raises(ValueError, match=r"ranges names unknown covariates: \['zz'\]"):
        Nomogram.from_cox(nom.model, d, ranges={"zz": [0, 1]})
    with pytest.raises(ValueError, match=r"ranges\['age'\] must be at least 2 finite values"):
        Nomogram.from_cox(nom.model, d, ranges={"age": [50]})


@pytest.mark.parametrize(
    "lo, hi, n, want",
    [
        (39, 82, 10, list(range(35, 90, 5))),          # lung age axis (rms)
        (-24, 68, 10, list(range(-30, 80, 10))),       # lung wt_loss axis
        (10, 99, 10, list(range(10, 110, 10))),        # veteran karno axis
        (0, 170.07, 10, list(range(0, 200, 20))),      # lung total-points axis
        (1, 10, 5, [0, 2, 4, 6, 8, 10]),               # pretty(1:10)
        (0, 1, 5, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),       # pretty(c(0, 1))
    ],
)
def test_r_pretty_matches_r(lo, hi, n, want):
    np.testing.assert_allclose(r_pretty(lo, hi, n), want, atol=1e-12)


def test_datadist_discrete_values_and_rejects_constant():
    d = pd.DataFrame({"a": np.arange(40.0), "b": [0, 1, 2, 3] * 10})
    dd = datadist(d)
    assert dd.values["a"] is None and dd.values["b"].tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="covariate 'c' is constant"):
        datadist(d.assign(c=1.0))


def test_nomogram_rejects_bad_input():
    d, _, _, nom = _load("lung")
    with pytest.raises(ValueError, match="result must be a CoxResult"):
        Nomogram.from_cox("model", d)
    with pytest.raises(ValueError, match=r"covariates not in df: \['age'\]"):
        Nomogram.from_cox(nom.model, d.drop(columns="age"))
    with pytest.raises(ValueError, match="covariates contain NaN"):
        nom.total_points(d.assign(age=np.nan))
