"""Tests for npc_lib.stats.subgroups against R (tests/data/subgroups_reference.R) and statsmodels."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from npc_lib.stats.subgroups import interaction_test, subgroup_analysis, subgroup_hazard_ratios

DATA = Path(__file__).parent / "data"
RTOL = 1e-6


@functools.lru_cache(maxsize=None)
def _reference() -> dict:
    return json.loads((DATA / "subgroups_reference.json").read_text())["cases"]


def _case(name: str) -> pd.DataFrame:
    """The data of each reference case, built exactly as the R script builds it."""
    if name.startswith("lung"):
        d = pd.read_csv(DATA / "lung.csv").assign(group=pd.read_csv(DATA / "lung_derived.csv")["high_risk"])
        d = d.assign(sub=d["ph_ecog"] if name == "lung_ecog" else d["female"])
        if name == "lung_sex_noevent":
            d = d.assign(status=d["status"] * (1 - d["group"] * d["female"]))
        return d
    d = pd.read_csv(DATA / "veteran.csv").assign(group=pd.read_csv(DATA / "veteran_derived.csv")["high_risk"])
    return d.assign(sub=np.select([d.cell_smallcell == 1, d.cell_adeno == 1, d.cell_large == 1], [1, 2, 3], 0))


CASES = ["lung_sex", "lung_ecog", "lung_sex_noevent", "veteran_cell"]


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_interaction_test_matches_r_anova(name, ties):
    d, R = _case(name), _reference()[name][ties]["interaction"]
    r = interaction_test(d["time"], d["status"], d["group"], d["sub"], ties=ties)
    assert r.df == R["df"]
    if R["warnings"]:              # monotone likelihood: both stop near the supremum, at different points
        assert r.chi2 == pytest.approx(R["chisq"], rel=1e-5) and "monotone" in r.note
        assert r.p == pytest.approx(R["p"], rel=1e-4)
    else:
        assert r.chi2 == pytest.approx(R["chisq"], rel=RTOL, abs=1e-9) and r.note == ""
        assert r.p == pytest.approx(R["p"], rel=RTOL)
        assert r.loglik_full == pytest.approx(R["loglik_full"], rel=1e-9)
    assert r.loglik_reduced == pytest.approx(R["loglik_reduced"], rel=1e-9)
    aliased = [k for k, v in R["coef_full"].items() if v is None]
    assert len(r.dropped) == len(aliased)


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_subgroup_hazard_ratios_match_r_per_level(name, ties):
    d, R = _case(name), _reference()[name][ties]["levels"]
    tab = subgroup_hazard_ratios(d["time"], d["status"], d["group"], d["sub"], ties=ties)
    assert tab["level"].tolist() == list(R)
    for row in tab.itertuples():
        ref = R[row.level]
        counts = (row.n_low, row.n_high, row.events_low, row.events_high)
        assert counts == (ref["n_low"], ref["n_high"], ref["events_low"], ref["events_high"])
        if not ref["estimable"] or ref["monotone"]:     # R: no fit, or "coefficient may be infinite"
            assert not row.estimable and np.isnan(row.hr) and "not estimable" in row.note
            continue
        assert row.estimable and row.note == ""
        for ours, theirs in (("hr", "hr"), ("hr_lower", "hr_lower"), ("hr_upper", "hr_upper"), ("p", "p_wald"),
                             ("logrank_chi2", "logrank_chisq"), ("logrank_p", "logrank_p")):
            assert getattr(row, ours) == pytest.approx(ref[theirs], rel=RTOL), ours


def _three_levels(seed: int = 5, n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g, s = rng.integers(0, 2, n), rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])
    eff = np.select([s == "a", s == "b"], [1.0, 0.4], -0.3)
    t = rng.exponential(np.exp(-eff * g - 0.3 * (s == "b")))
    c = rng.exponential(1.5, n)
    return pd.DataFrame({"time": np.round(np.minimum(t, c), 2), "event": (t <= c).astype(int), "group": g, "sub": s})


def test_interaction_test_matches_statsmodels_phreg():
    from statsmodels.duration.hazard_regression import PHReg

    d = _three_levels()
    r = interaction_test(d["time"], d["event"], d["group"], d["sub"])
    dummies = pd.get_dummies(d["sub"], drop_first=True, dtype=float)
    X0 = pd.concat([d["group"].astype(float), dummies], axis=1)
    X1 = pd.concat([X0, dummies.mul(d["group"], axis=0).add_prefix("g:")], axis=1)
    ll = [PHReg(d["time"], X.to_numpy(), status=d["event"], ties="efron").fit().llf for X in (X0, X1)]
    assert r.df == 2 and r.chi2 == pytest.approx(2 * (ll[1] - ll[0]), rel=1e-6)
    assert r.loglik_full == pytest.approx(ll[1], rel=1e-9)


def test_interaction_test_detects_effect_modification_and_not_its_absence():
    rng = np.random.default_rng(11)
    n = 600
    g, s = rng.integers(0, 2, n), rng.integers(0, 2, n)
    differ = rng.exponential(np.exp(-(2.0 * s - 1.0) * g))
    same = rng.exponential(np.exp(-1.0 * g + 0.5 * s))
    assert interaction_test(differ, np.ones(n), g, s).p < 1e-6
    assert interaction_test(same, np.ones(n), g, s).p > 0.01


def test_subgroup_hazard_ratios_categorical_order_and_empty_level():
    d = _three_levels(n=120)
    sub = pd.Categorical(d["sub"], categories=["c", "b", "a", "z"])
    tab = subgroup_hazard_ratios(d["time"], d["event"], d["group"], sub)
    assert tab["level"].tolist() == ["c", "b", "a", "z"]
    z = tab.iloc[3]
    assert z["n"] == 0 and not z["estimable"] and z["note"] == "no patient in this level"
    assert tab["n"].sum() == len(d) and tab["events"].sum() == d["event"].sum()
    r = interaction_test(d["time"], d["event"], d["group"], sub)
    assert r.n_levels == 3 and r.df == 2                # the empty category adds nothing


def test_interaction_test_not_testable_cases():
    t, e = [1, 2, 3, 4, 5, 6], [1, 0, 1, 1, 0, 1]
    one_level = interaction_test(t, e, [0, 1, 0, 1, 0, 1], ["a"] * 6)
    assert np.isnan(one_level.chi2) and one_level.df == 0 and "fewer than two" in one_level.note
    one_group = interaction_test(t, e, [1] * 6, list("aabbab"))
    assert np.isnan(one_group.p) and "one risk group" in one_group.note
    no_event = interaction_test(t, [0] * 6, [0, 1, 0, 1, 0, 1], list("aabbab"))
    assert np.isnan(no_event.p) and "no event" in no_event.note
    aliased = interaction_test(t, e, [0, 0, 0, 1, 1, 1], list("aaabbb"))     # group == subgroup
    assert aliased.df == 0 and "aliased" in aliased.note


def test_subgroup_analysis_by_cohort_equals_direct_calls():
    d = pd.concat([_three_levels(seed=1).assign(cohort="train"), _three_levels(seed=2, n=150).assign(cohort="test")],
                  ignore_index=True)
    d["sex"] = np.where(np.arange(len(d)) % 3 == 0, "F", "M")
    res = subgroup_analysis(d, ["sub", "sex"], by="cohort")
    assert res.levels[["cohort", "variable"]].drop_duplicates().values.tolist() == [
        ["train", "sub"], ["train", "sex"], ["test", "sub"], ["test", "sex"]]
    assert list(res.levels.columns[:3]) == ["cohort", "variable", "level"]
    assert len(res.interactions) == 4
    part = d[d.cohort == "test"]
    direct = interaction_test(part["time"], part["event"], part["group"], part["sex"])
    got = res.interactions.set_index(["cohort", "variable"]).loc[("test", "sex")]
    assert got["chi2"] == pytest.approx(direct.chi2) and got["df"] == direct.df
    hr = subgroup_hazard_ratios(part["time"], part["event"], part["group"], part["sub"])
    mine = res.levels[(res.levels.cohort == "test") & (res.levels.variable == "sub")]
    np.testing.assert_allclose(mine["hr"], hr["hr"])


def test_subgroup_analysis_bad_input_names_the_argument():
    d = _three_levels(n=40)
    with pytest.raises(ValueError, match=r"missing column\(s\) \['smoking'\]"):
        subgroup_analysis(d, ["smoking"])
    with pytest.raises(ValueError, match="column 'sub' contains missing values"):
        subgroup_analysis(d.assign(sub=d["sub"].where(d.index > 0)), ["sub"])
    with pytest.raises(ValueError, match="column 'group' must be 0/1"):
        subgroup_analysis(d.assign(group=d["group"] + 1), ["sub"])
    with pytest.raises(ValueError, match="subgroups is empty"):
        subgroup_analysis(d, [])
    with pytest.raises(ValueError, match="subgroup length"):
        interaction_test([1, 2], [1, 1], [0, 1], ["a"])
