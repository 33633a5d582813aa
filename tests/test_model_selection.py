"""Guarded Cox model selection (npc_lib.stats.model_selection)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from cohort_factory import survival_frame

from npc_lib.stats.model_selection import fixed_model, infinite_coefficients, select_model, usable_covariates
from npc_lib.stats.stepwise import stepwise_cox


def _cohort(n=200, seed=0, follow_up=80.0):
    return survival_frame(n, seed, follow_up)


@pytest.fixture(scope="module")
def cohort():
    return _cohort()


# --------------------------------------------------------------------------- selection


def test_select_model_matches_stepwise(cohort):
    m = select_model(cohort, ["a", "b", "noise"], name="m")
    ref = stepwise_cox(cohort, "time", "event", ["a", "b", "noise"])
    assert m.selected == ref.selected and m.used == ref.selected and not m.fallback_used
    assert np.allclose(m.fit.params.to_numpy(), ref.final.params.to_numpy())
    d = m.to_dict()
    assert d["covariates"] == m.used and set(d["coef"]) == set(m.used)
    assert d["coef"]["a"] == pytest.approx(float(ref.final.params["a"]))


def test_select_model_fallback_when_nothing_kept():
    rng = np.random.default_rng(4)
    d = pd.DataFrame({"time": rng.exponential(size=80), "event": 1, "z": rng.normal(size=80),
                      "sig": rng.normal(size=80)})
    m = select_model(d, ["z"], fallback=["sig"])
    assert m.selected == [] and m.used == ["sig"] and m.fallback_used
    assert list(m.fit.covariates) == ["sig"]
    assert "stepwise AIC kept no covariate" in m.notes
    null = select_model(d, ["z"])
    assert null.used == [] and null.fit.covariates == ()


def test_select_model_monotone_likelihood_is_a_note():
    rng = np.random.default_rng(2)
    d = pd.DataFrame({"time": rng.exponential(size=40), "event": rng.integers(0, 2, 40),
                      "x": rng.normal(size=40)})
    d["rare"] = 0.0
    d.loc[d.index[:3], "rare"] = 1.0
    d.loc[d.index[:3], "event"] = 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = select_model(d, ["x", "rare"])
    assert any("infinite" in n or "converge" in n for n in m.notes)
    assert m.monotone and set(m.monotone) <= set(m.notes)  # Cox non-convergence, told apart by its warning class


def test_select_model_leaves_out_constant_covariates(cohort):
    d = cohort.assign(who=0.0)
    m = select_model(d, ["who", "a", "b"], fallback=["who", "a"])
    assert "who" not in m.used and m.notes[0] == "left out, constant in these data: who"
    null = select_model(d, ["who"], fallback=["who"])  # every candidate constant: the null model, said so
    assert null.used == [] and list(null.fit.covariates) == [] and not null.fallback_used
    assert "no candidate covariate left: the null model" in null.notes
    with pytest.raises(ValueError, match=r"covariates not in df: \['zzz'\]"):
        usable_covariates(d, ["a", "zzz"])


def test_select_model_leaves_out_infinite_coefficients(cohort):
    d = cohort.copy()
    d["rare"] = 0.0
    idx = d.index[d.event == 0][:4]
    d.loc[idx, "rare"] = 1.0                                # no event among the 'rare' patients
    kept = select_model(d, ["a", "b", "rare"], drop_infinite=False)
    assert "rare" in kept.used and infinite_coefficients(kept.fit, d) == ["rare"]
    m = select_model(d, ["a", "b", "rare"], fallback=["rare", "a"])
    assert m.excluded == ["rare"] and "rare" not in m.used and m.used == ["a", "b"]
    assert "left out, infinite coefficient (monotone likelihood): rare" in m.notes
    assert m.to_dict()["excluded_infinite"] == ["rare"]
    only = select_model(d[["time", "event", "rare"]], ["rare"], fallback=["rare"])
    assert only.used == [] and only.fit.covariates == () and not only.fallback_used


def test_fixed_model_none_is_the_null_model(cohort):
    m = fixed_model(cohort, [], name="Model_clinic+dl")
    assert m.used == m.selected == [] and list(m.fit.covariates) == [] and m.notes == ["covariates fixed: none"]
    assert m.to_dict()["covariates"] == [] and m.to_dict()["coef"] == {}
    assert np.all(m.fit.linear_predictor(cohort) == 0.0)
    kept = fixed_model(cohort, ["a"], name="a only")
    assert kept.used == ["a"] and kept.stepwise.aic_path == [kept.fit.aic]
    with pytest.raises(ValueError, match=r"covariates not in df: \['zzz'\]"):
        fixed_model(cohort, ["zzz"])
