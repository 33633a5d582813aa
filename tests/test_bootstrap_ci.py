"""percentile_bootstrap_ci (npc_lib.stats.bootstrap): seeded percentile CI, predictions held fixed."""

import numpy as np
import pytest

from npc_lib.stats import brier_score, weighted_concordance
from npc_lib.stats.bootstrap import percentile_bootstrap_ci


def _data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    t_ev, t_c = rng.exponential(np.exp(-x)), rng.exponential(2.0, n)
    return np.minimum(t_ev, t_c), t_ev <= t_c, x


def test_percentile_bootstrap_ci_matches_naive_loop():
    time, event, x = _data()
    metric = lambda t, e, r: weighted_concordance(t, e, r, timewt="n/G2").c_index  # noqa: E731
    ci = percentile_bootstrap_ci(metric, time, event, x, n_boot=50, seed=3)
    rng = np.random.default_rng(3)
    idx = rng.integers(0, time.size, size=(50, time.size))
    reps = np.array([metric(time[i], event[i], x[i]) for i in idx])
    np.testing.assert_allclose(ci.replicates[:, 0], reps, rtol=1e-15)
    assert ci.estimate == metric(time, event, x)
    assert ci.lower == pytest.approx(np.quantile(reps, 0.025)) and ci.upper == pytest.approx(np.quantile(reps, 0.975))
    again = percentile_bootstrap_ci(metric, time, event, x, n_boot=50, seed=3)
    np.testing.assert_array_equal(again.replicates, ci.replicates)


def test_percentile_bootstrap_ci_vector_metric_and_2d_predictions():
    time, event, x = _data(300, 1)
    surv = np.exp(-np.outer(np.exp(x), [0.5, 1.0]))
    ci = percentile_bootstrap_ci(lambda t, e, s: brier_score(t, e, s, [0.5, 1.0])[["brier", "ipa"]].to_numpy().ravel(),
                                 time, event, surv, n_boot=40, seed=0, alpha=0.1)
    assert ci.estimate.shape == ci.lower.shape == (4,) and ci.replicates.shape[1] == 4
    assert np.all(ci.lower <= ci.upper)


def test_percentile_bootstrap_ci_counts_failed_resamples():
    time = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    event = np.array([1, 0, 0, 0, 0, 0])  # resamples without the one event fail
    ci = percentile_bootstrap_ci(lambda t, e, r: weighted_concordance(t, e, r).c_index,
                                 time, event, np.arange(6.0)[::-1], n_boot=60, seed=0)
    assert ci.n_failed > 0 and ci.replicates.shape[0] == 60 - ci.n_failed


@pytest.mark.parametrize("kwargs, match", [
    (dict(arrays=()), "arrays"),
    (dict(arrays=(np.ones(3), np.ones(4))), "arrays"),
    (dict(n_boot=0), "n_boot"),
    (dict(alpha=1.5), "alpha"),
])
def test_percentile_bootstrap_ci_bad_input_raises(kwargs, match):
    arrays = kwargs.pop("arrays", (np.ones(5),))
    with pytest.raises(ValueError, match=match):
        percentile_bootstrap_ci(lambda a, *rest: float(a.mean()), *arrays, **kwargs)
