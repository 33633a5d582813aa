"""Tests for npc_lib.stats.bootstrap (Harrell's optimism-corrected C-index)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from npc_lib.stats.bootstrap import optimism_corrected_cindex
from npc_lib.stats.concordance import concordance_index
from npc_lib.stats.cox import fit_cox


def _overfit_data(n=80, n_noise=12, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_noise + 1))
    d = pd.DataFrame(X, columns=["signal"] + [f"noise{i}" for i in range(n_noise)])
    d["t"] = rng.exponential(np.exp(-0.7 * X[:, 0]))
    d["e"] = (rng.random(n) < 0.8).astype(int)
    return d, list(d.columns[: n_noise + 1])


def test_optimism_corrected_cindex_is_deterministic():
    d, cov = _overfit_data()
    a = optimism_corrected_cindex(d, "t", "e", cov, n_boot=10, seed=7)
    b = optimism_corrected_cindex(d, "t", "e", cov, n_boot=10, seed=7)
    c = optimism_corrected_cindex(d, "t", "e", cov, n_boot=10, seed=8)
    pd.testing.assert_frame_equal(a.replicates, b.replicates)
    assert (a.apparent, a.optimism, a.corrected) == (b.apparent, b.optimism, b.corrected)
    assert a.optimism != c.optimism and a.apparent == c.apparent


def test_optimism_positive_for_overfit_model():
    d, cov = _overfit_data()
    r = optimism_corrected_cindex(d, "t", "e", cov, n_boot=25, seed=0)
    assert r.optimism > 0.01
    assert r.corrected == pytest.approx(r.apparent - r.optimism)
    assert r.optimism == pytest.approx(r.replicates["optimism"].mean())
    assert (r.replicates["c_boot"] > r.replicates["c_orig"]).mean() > 0.7
    assert len(r.replicates) + r.n_failed == r.n_boot == 25


def test_apparent_and_replicates_match_naive_computation():
    d, cov = _overfit_data(n=60, n_noise=2)
    r = optimism_corrected_cindex(d, "t", "e", cov, n_boot=3, seed=11)
    full = fit_cox(d, "t", "e", cov)
    assert r.apparent == concordance_index(d["t"], d["e"], full.linear_predictor(d)).c_index
    idx = np.random.default_rng(11).integers(0, len(d), size=(3, len(d)))[0]
    boot = d.iloc[idx]
    f = fit_cox(boot, "t", "e", cov)
    assert r.replicates.loc[0, "c_boot"] == pytest.approx(
        concordance_index(boot["t"], boot["e"], f.linear_predictor(boot)).c_index, rel=1e-12)
    assert r.replicates.loc[0, "c_orig"] == pytest.approx(
        concordance_index(d["t"], d["e"], f.linear_predictor(d)).c_index, rel=1e-12)


def test_custom_cindex_function_is_used():
    from lifelines.utils import concordance_index as lifelines_c

    d, cov = _overfit_data(n=60, n_noise=2)
    r = optimism_corrected_cindex(d, "t", "e", cov, n_boot=5, seed=1,
                                  cindex=lambda t, e, risk: lifelines_c(t, -risk, e))
    full = fit_cox(d, "t", "e", cov)
    assert r.apparent == pytest.approx(lifelines_c(d["t"], -full.linear_predictor(d), d["e"]))


def test_failed_replicates_are_skipped_and_counted():
    d, cov = _overfit_data(n=60, n_noise=1)
    d["rare"] = 0
    d.loc[:1, "rare"] = 1                     # 2 of 60: constant in many bootstrap samples
    r = optimism_corrected_cindex(d, "t", "e", cov + ["rare"], n_boot=20, seed=3)
    assert r.n_failed > 0
    assert len(r.replicates) == 20 - r.n_failed


def test_optimism_corrected_cindex_rejects_bad_input():
    d, cov = _overfit_data(n=40, n_noise=1)
    with pytest.raises(ValueError, match="n_boot must be a positive integer"):
        optimism_corrected_cindex(d, "t", "e", cov, n_boot=0)
    with pytest.raises(ValueError, match="covariates is empty"):
        optimism_corrected_cindex(d, "t", "e", [])
    with pytest.raises(ValueError, match="ties must be one of"):
        optimism_corrected_cindex(d, "t", "e", cov, ties="exact")
    with pytest.raises(ValueError, match=r"covariates not in df: \['zz'\]"):
        optimism_corrected_cindex(d, "t", "e", ["zz"])
