"""npc_lib.stats.replication: Wilson interval against statsmodels, variance components against a naive
computation and statsmodels' MixedLM."""

import warnings

import numpy as np
import pytest

from npc_lib.stats.replication import variance_components, wilson_interval


@pytest.mark.parametrize("k,n,level", [(0, 1, 0.95), (0, 10, 0.95), (3, 10, 0.95), (10, 10, 0.95), (7, 30, 0.9),
                                       (1, 2, 0.99), (45, 50, 0.95)])
def test_wilson_interval_matches_statsmodels(k, n, level):
    from statsmodels.stats.proportion import proportion_confint

    lo, hi = proportion_confint(k, n, alpha=1 - level, method="wilson")
    ci = wilson_interval(k, n, level)
    assert ci.proportion == pytest.approx(k / n)
    assert ci.lower == pytest.approx(lo, abs=1e-12) and ci.upper == pytest.approx(hi, abs=1e-12)
    assert 0.0 <= ci.lower <= ci.proportion <= ci.upper <= 1.0


def test_wilson_interval_no_trials_is_nan():
    ci = wilson_interval(0, 0)
    assert ci.n == 0 and np.isnan(ci.proportion) and np.isnan(ci.lower) and np.isnan(ci.upper)


@pytest.mark.parametrize("k,n,match", [(3, 2, "successes <= n"), (-1, 2, "successes <= n"), (1.5, 2, "whole"),
                                       (True, 2, "whole")])
def test_wilson_interval_rejects_bad_counts(k, n, match):
    with pytest.raises(ValueError, match=match):
        wilson_interval(k, n)


def test_wilson_interval_rejects_bad_level():
    with pytest.raises(ValueError, match="level"):
        wilson_interval(1, 2, level=1.0)


def _naive_components(values, groups):
    """Textbook one-way ANOVA, loop by loop (Searle et al. 1992, 3.5)."""
    data = {}
    for v, g in zip(values, groups):
        data.setdefault(g, []).append(v)
    n = sum(len(v) for v in data.values())
    k = len(data)
    grand = sum(sum(v) for v in data.values()) / n
    ssb = sum(len(v) * (sum(v) / len(v) - grand) ** 2 for v in data.values())
    ssw = sum(sum((x - sum(v) / len(v)) ** 2 for x in v) for v in data.values())
    msb, msw = ssb / (k - 1), ssw / (n - k)
    n0 = (n - sum(len(v) ** 2 for v in data.values()) / n) / (k - 1)
    return (msb - msw) / n0, msw


def test_variance_components_match_naive_unbalanced():
    rng = np.random.default_rng(3)
    groups = np.repeat([11, 12, 13, 14, 15], [2, 3, 4, 2, 5])
    values = rng.normal(0.7, 0.03, len(groups)) + np.repeat(rng.normal(0, 0.05, 5), [2, 3, 4, 2, 5])
    vc = variance_components(values, groups)
    between, within = _naive_components(values, groups)
    assert vc.between_raw == pytest.approx(between, rel=1e-12)
    assert vc.within == pytest.approx(within, rel=1e-12)
    assert vc.n_groups == 5 and vc.n_obs == len(values) and vc.note == ""
    assert vc.share_between == pytest.approx(max(between, 0) / (max(between, 0) + within))


def test_variance_components_match_mixedlm_balanced():
    import pandas as pd
    import statsmodels.formula.api as smf

    rng = np.random.default_rng(7)
    groups = np.repeat(np.arange(8), 3)
    values = 0.7 + np.repeat(rng.normal(0, 0.05, 8), 3) + rng.normal(0, 0.02, len(groups))
    vc = variance_components(values, groups)
    assert vc.between_raw > 0  # REML equals the ANOVA estimators when balanced and the estimate is positive
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = smf.mixedlm("y ~ 1", pd.DataFrame({"y": values, "g": groups}), groups="g").fit(reml=True)
    assert vc.between == pytest.approx(float(fit.cov_re.iloc[0, 0]), rel=1e-3)
    assert vc.within == pytest.approx(float(fit.scale), rel=1e-3)


def test_variance_components_negative_between_shown_as_zero():
    vc = variance_components([0.70, 0.74, 0.71, 0.73, 0.72, 0.72], [1, 1, 2, 2, 3, 3])
    assert vc.between_raw < 0 and vc.between == 0.0 and vc.share_between == 0.0


def test_variance_components_leave_out_single_split_twins_and_nan():
    vc = variance_components([0.70, 0.72, np.nan, 0.60, 0.61, 0.9], [1, 1, 1, 2, 2, 3])
    assert vc.n_groups == 2 and vc.n_obs == 4
    assert "3" in vc.note


def test_variance_components_too_few_groups_is_nan_with_note():
    vc = variance_components([0.7, 0.72, 0.6], [1, 1, 2])
    assert np.isnan(vc.between) and np.isnan(vc.within) and np.isnan(vc.share_between)
    assert "fewer than 2 groups" in vc.note


def test_variance_components_reject_mismatched_shapes():
    with pytest.raises(ValueError, match="same length"):
        variance_components([0.7, 0.72], [1])
