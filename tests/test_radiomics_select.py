"""Feature reduction for handcrafted radiomics (A20): filters, Cox deviance, cv.glmnet, selection."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from npc_lib.radiomics.select import (
    RULES,
    correlation_filter,
    cox_deviance,
    cv_coxnet,
    near_zero_variance,
    nonfinite_features,
    select_features,
)

DATA = Path(__file__).parent / "data"


def _survival_data(n=300, p=25, seed=1):
    """Noise features plus f3 (risk up) and f7 (risk down) that set the hazard."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, p)) * rng.uniform(0.5, 50, p) + rng.uniform(-100, 100, p),
                     columns=[f"f{i}" for i in range(p)])
    z = (X - X.mean()) / X.std()
    lp = 0.9 * z["f3"] - 0.7 * z["f7"]
    T = rng.exponential(24 * np.exp(-lp))
    C = rng.uniform(0, 72, n)
    return X, np.minimum(T, C), (T <= C).astype(int)


# --------------------------------------------------------------------------- filters


def test_nonfinite_features_flags_nan_and_inf():
    X = pd.DataFrame({"a": [1.0, np.nan, 2.0], "b": [1.0, 2.0, 3.0], "c": [np.inf, 1.0, 2.0]})
    assert nonfinite_features(X) == ["a", "c"]


def test_near_zero_variance_matches_caret_rule():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({
        "rare": [0.0] * 96 + [1.0] * 4,          # ratio 24 > 19 and 2 % unique: flagged
        "balanced": [0.0] * 50 + [1.0] * 50,     # ratio 1: kept although 2 % unique
        "many": rng.normal(size=100),            # 100 % unique: kept
        "const": [5.0] * 100,                     # constant: flagged
        "edge": [0.0] * 95 + [1.0] * 5,           # ratio exactly 19: kept (caret: > freqCut)
    })
    assert near_zero_variance(X) == ["rare", "const"]
    assert near_zero_variance(X, freq_cut=18.0) == ["rare", "const", "edge"]


def _naive_find_correlation(X: pd.DataFrame, thr: float) -> list[str]:
    r = X.rank().corr().abs()
    cols = list(X.columns)
    while True:
        best = max(((r.loc[a, b], a, b) for i, a in enumerate(cols) for b in cols[i + 1:]), default=(0, None, None))
        if best[0] <= thr:
            return cols
        _, a, b = best
        mean = {c: r.loc[c, [d for d in cols if d != c]].mean() for c in (a, b)}
        cols.remove(a if mean[a] > mean[b] else b)


def test_correlation_filter_agrees_with_naive_version():
    rng = np.random.default_rng(4)
    base = rng.normal(size=(80, 4))
    cols = {f"v{i}": base[:, i % 4] + rng.normal(scale=0.15 * (1 + i % 3), size=80) for i in range(14)}
    X = pd.DataFrame(cols)
    for thr in (0.6, 0.8, 0.95):
        kept = correlation_filter(X, threshold=thr)
        assert kept == _naive_find_correlation(X, thr)
        rho = X[kept].rank().corr().abs().to_numpy()
        np.fill_diagonal(rho, 0)
        assert rho.max() <= thr


def test_correlation_filter_rejects_constant_and_bad_threshold():
    X = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [1.0, 1.0, 1.0]})
    with pytest.raises(ValueError, match="constant column"):
        correlation_filter(X)
    with pytest.raises(ValueError, match="threshold"):
        correlation_filter(X[["a"]], threshold=1.5)


# --------------------------------------------------------------------------- deviance and cv.glmnet


def test_cox_deviance_matches_naive_breslow_with_ties():
    rng = np.random.default_rng(2)
    time = rng.integers(1, 8, 40).astype(float)  # many ties
    event = rng.integers(0, 2, 40)
    eta = rng.normal(size=(40, 3))
    want = []
    for j in range(3):
        ll = sum(eta[i, j] - np.log(np.exp(eta[time >= time[i], j]).sum()) for i in range(40) if event[i])
        want.append(-2 * ll)
    assert cox_deviance(eta, time, event) == pytest.approx(want, rel=1e-12)
    assert cox_deviance(eta[:, 1], time, event) == pytest.approx(want[1], rel=1e-12)


def test_cv_coxnet_matches_cv_glmnet():
    """R glmnet 4.1-6 cv.glmnet(family = "cox", grouped = TRUE), same lambda and foldid."""
    d = pd.read_csv(DATA / "radiomics_glmnet.csv")
    lam = pd.read_csv(DATA / "radiomics_glmnet_lambda.csv")["lambda"].to_numpy()
    ref = json.loads((DATA / "radiomics_glmnet.json").read_text())
    cv = cv_coxnet(d.filter(like="x"), d["time"], d["event"], alphas=lam, folds=d["foldid"] - 1)
    m = len(ref["lambda"])
    assert cv.alphas.size == m and cv.alphas == pytest.approx(ref["lambda"], rel=1e-12)
    assert cv.cv_mean == pytest.approx(ref["cvm"], rel=1e-5)
    assert cv.cv_se == pytest.approx(ref["cvsd"], rel=1e-3, abs=1e-5)
    assert np.allclose(cv.coef.T, np.array(ref["beta_std"]), atol=2e-4)
    assert cv.alphas[cv.index("lambda.min")] == pytest.approx(ref["lambda_min"], rel=1e-12)
    assert cv.alphas[cv.index("lambda.1se")] == pytest.approx(ref["lambda_1se"], rel=1e-12)


def test_cv_coxnet_seeded_and_rules_ordered():
    X, t, e = _survival_data(n=150, p=8)
    a = cv_coxnet(X, t, e, n_folds=5, seed=3)
    b = cv_coxnet(X, t, e, n_folds=5, seed=3)
    c = cv_coxnet(X, t, e, n_folds=5, seed=4)
    assert np.array_equal(a.folds, b.folds) and np.array_equal(a.cv_mean, b.cv_mean)
    assert not np.array_equal(a.folds, c.folds)
    assert np.bincount(a.folds).tolist() == [30] * 5
    assert a.index_1se <= a.index_min  # 1se: the larger penalty
    assert a.cv_mean[a.index_min] == a.cv_mean.min()
    assert np.all(np.diff(a.alphas) < 0) and a.n_nonzero[0] == 0


def test_cv_coxnet_every_fold_holds_events():
    X, t, e = _survival_data(n=60, p=8, seed=5)
    e = (np.arange(60) < 12).astype(int)  # 12 events for 10 folds
    cv = cv_coxnet(X, t, e, n_folds=10, seed=0)
    per_fold = np.bincount(cv.folds, weights=e, minlength=10)
    assert per_fold.min() >= 1 and np.bincount(cv.folds).max() - np.bincount(cv.folds).min() <= 1
    folds = cv.folds.copy()
    folds[(folds == 0) & (e == 1)] = 1  # now fold 0 has none: left out of the mean, as glmnet
    loose = cv_coxnet(X, t, e, folds=folds)
    assert np.all(np.isfinite(loose.cv_mean)) and np.all(np.isfinite(loose.cv_se))


def test_cv_coxnet_counts_unconverged_fits_instead_of_warning():
    rng = np.random.default_rng(0)  # 30 patients, 20 noise features: a near-unpenalised fit separates
    X, t, e = rng.normal(size=(30, 20)), rng.exponential(size=30), (rng.random(30) < 0.6).astype(int)
    assert cv_coxnet(X, t, e, n_folds=3, alpha_min_ratio=1e-4).n_unconverged >= 1  # no warning (pytest: error)
    assert cv_coxnet(X, t, e, n_folds=3, alpha_min_ratio=0.01).n_unconverged == 0


@pytest.mark.parametrize("kwargs, match", [
    ({"n_folds": 2}, "n_folds"),
    ({"folds": np.zeros(150, dtype=int)}, "folds"),
    ({"alphas": [0.1, 0.2]}, "alphas"),
    ({"l1_ratio": 0.0}, "l1_ratio"),
])
def test_cv_coxnet_bad_arguments(kwargs, match):
    X, t, e = _survival_data(n=150, p=8)
    with pytest.raises(ValueError, match=match):
        cv_coxnet(X, t, e, **kwargs)


# --------------------------------------------------------------------------- the whole reduction


@pytest.fixture(scope="module")
def signal_data():
    X, t, e = _survival_data()
    X["f3_copy"] = X["f3"] * 2.0 + 1.0          # a monotone copy: the correlation filter removes one
    X["constant"] = 7.0
    X["broken"] = np.where(np.arange(len(X)) == 5, np.nan, 1.0)
    return X, t, e


def test_select_features_finds_the_signal(signal_data):
    X, t, e = signal_data
    sel = select_features(X, t, e, n_folds=5, seed=0, rule="lambda.1se")
    assert sel.dropped["nonfinite"] == ["broken"] and sel.dropped["near_zero_variance"] == ["constant"]
    assert len(sel.dropped["correlated"]) == 1 and sel.dropped["correlated"][0] in ("f3", "f3_copy")
    f3 = "f3" if "f3" in sel.features else "f3_copy"
    assert {f3, "f7"} <= set(sel.features) and len(sel.features) <= 4
    assert set(sel.coefficients.abs().nlargest(2).index) == {f3, "f7"}
    assert sel.coefficients[f3] > 0 > sel.coefficients["f7"]
    lp = sel.predict(X)
    assert lp.shape == (len(X),) and abs(lp.mean()) < 1e-9
    loose = select_features(X, t, e, n_folds=5, seed=0, rule="lambda.min")
    assert set(sel.features) <= set(loose.features) and loose.alpha <= sel.alpha


def test_select_features_deterministic(signal_data):
    X, t, e = signal_data
    a = select_features(X, t, e, n_folds=5, seed=11)
    b = select_features(X, t, e, n_folds=5, seed=11)
    assert a.features == b.features and a.coefficients.equals(b.coefficients)


def test_select_features_predict_checks_columns(signal_data):
    X, t, e = signal_data
    sel = select_features(X, t, e, n_folds=5, seed=0, rule="lambda.1se")
    with pytest.raises(ValueError, match="lacks selected feature columns"):
        sel.predict(X.drop(columns="f7"))
    bad = X.copy()
    bad.loc[3, "f7"] = np.nan
    with pytest.raises(ValueError, match=r"non-finite selected feature values in rows \[3\]"):
        sel.predict(bad)


def test_select_features_bad_input():
    X, t, e = _survival_data(n=60, p=8)
    with pytest.raises(ValueError, match="rule"):
        select_features(X, t, e, rule="min")
    with pytest.raises(ValueError, match="time and event"):
        select_features(X, t[:-1], e)
    with pytest.raises(ValueError, match="no feature survives"):
        select_features(pd.DataFrame({"c": np.ones(60)}), t, e)
    with pytest.raises(ValueError, match="X must be a DataFrame"):
        select_features(X.to_numpy(), t, e)
    assert set(RULES) == {"lambda.min", "lambda.1se"}
