"""Feature reduction for handcrafted radiomics, fitted on the training cohort only (A20).

:func:`select_features` runs, on training patients' features and outcomes:

1. **non-finite filter**: a feature with any NaN/inf value is dropped;
2. **near-zero-variance filter** (caret's ``nearZeroVar`` rule): dropped when
   the most common value is more than ``freq_cut`` times as frequent as the
   second most common *and* fewer than ``unique_cut`` % of values are distinct,
   or when it is constant;
3. **correlation filter** (caret's ``findCorrelation``, exact): while some pair
   has ``|Spearman rho| > corr_threshold``, of the most correlated pair the
   feature with the larger mean ``|rho|`` with all remaining ones is dropped;
4. **L1-penalised Cox model with a cross-validated penalty**, as ``cv.glmnet``
   (``family = "cox"``, ``alpha = 1``, ``standardize = TRUE``): the lasso path
   of scikit-survival's :class:`~sksurv.linear_model.CoxnetSurvivalAnalysis`
   on z-scored features (100 penalties from the smallest that selects nothing
   down to ``alpha_min_ratio`` of it, 1 % by default, the path of the whole training cohort
   used in every fold); seeded ``n_folds``-fold cross-validation (folds
   stratified by event status) of the
   *grouped* partial-likelihood deviance (Verweij & van Houwelingen): for fold
   ``k``, ``dev_all(beta_-k) - dev_-k(beta_-k)`` divided by its events; mean
   and SE over folds weighted by events; ``lambda.min`` (lowest mean deviance)
   or ``lambda.1se`` (largest penalty within one SE of it). The features are
   those with a non-zero coefficient at the chosen penalty of the full path.

Breslow's partial likelihood is used throughout (as glmnet's and
scikit-survival's Cox lasso); no saturated-model term (it does not change the
penalty chosen).

References
----------
Friedman J, Hastie T, Tibshirani R. Regularization paths for generalized
linear models via coordinate descent. J Stat Softw 2010;33(1).
Simon N, Friedman J, Hastie T, Tibshirani R. Regularization paths for Cox's
proportional hazards model via coordinate descent. J Stat Softw 2011;39(5).
Verweij PJM, van Houwelingen HC. Cross-validation in survival analysis.
Stat Med 1993;12:2305-2314.
Kuhn M. caret: nearZeroVar, findCorrelation.
"""

from __future__ import annotations

__all__ = [
    "RULES",
    "nonfinite_features",
    "near_zero_variance",
    "correlation_filter",
    "cox_deviance",
    "CoxnetCV",
    "cv_coxnet",
    "FeatureSelection",
    "select_features",
]

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from npc_lib.stats._validation import check_survival

#: penalty-choice rules of :func:`cv_coxnet` (glmnet's names)
RULES = ("lambda.min", "lambda.1se")


def _check_frame(X, name: str = "X") -> pd.DataFrame:
    if not isinstance(X, pd.DataFrame):
        raise ValueError(f"{name} must be a DataFrame of features (one column each)")
    if X.shape[1] == 0 or X.shape[0] < 2:
        raise ValueError(f"{name} must have at least 2 rows and 1 column, got shape {X.shape}")
    if len(set(X.columns)) != X.shape[1]:
        raise ValueError(f"{name} has duplicate column names")
    bad = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    if bad:
        raise ValueError(f"{name} has non-numeric columns: {bad[:5]}")
    return X


def _check_outcome(time, event, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Survival data by the statistics layer's rules (at least 2 events), one value per row of X."""
    t, e = check_survival(time, event, min_events=2)
    if t.size != n:
        raise ValueError(f"time and event must have one value per row of X ({n}), got {t.size}")
    return t, e


def _check_rule(rule: str) -> str:
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    return rule


def _check_fraction(name: str, value, lo: float = 0.0, hi: float = 1.0) -> float:
    v = float(value)
    if not (lo < v <= hi):
        raise ValueError(f"{name} must lie in ({lo}, {hi}], got {value!r}")
    return v


# --------------------------------------------------------------------------- filters


def nonfinite_features(X: pd.DataFrame) -> list[str]:
    """Columns of ``X`` with any NaN or infinite value."""
    X = _check_frame(X)
    return [c for c in X.columns if not np.all(np.isfinite(X[c].to_numpy(dtype=float)))]


def near_zero_variance(X: pd.DataFrame, *, freq_cut: float = 95 / 5, unique_cut: float = 10.0) -> list[str]:
    """Near-zero-variance columns of ``X`` (caret's ``nearZeroVar`` defaults).

    A column is flagged when it is constant, or when the ratio of the most to
    the second most frequent value exceeds ``freq_cut`` *and* the percentage
    of distinct values is below ``unique_cut``.

    Examples
    --------
    >>> X = pd.DataFrame({"a": [0.0] * 98 + [1.0, 2.0], "b": np.arange(100.0), "c": [3.0] * 100})
    >>> near_zero_variance(X)
    ['a', 'c']
    """
    X = _check_frame(X)
    out = []
    for c in X.columns:
        counts = X[c].value_counts(dropna=True).to_numpy()
        if counts.size <= 1:
            out.append(c)
            continue
        ratio = counts[0] / counts[1]
        pct_unique = 100.0 * counts.size / X.shape[0]
        if ratio > freq_cut and pct_unique < unique_cut:
            out.append(c)
    return out


def correlation_filter(X: pd.DataFrame, *, threshold: float = 0.9) -> list[str]:
    """Columns to keep so that no kept pair has ``|Spearman rho| > threshold``.

    caret's ``findCorrelation(exact = TRUE)``: repeatedly take the most
    correlated remaining pair; drop the one of the two with the larger mean
    absolute correlation with the remaining columns (the later column on a
    tie). Columns must be finite and non-constant.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> a = rng.normal(size=50)
    >>> X = pd.DataFrame({"a": a, "a2": a + 0.01 * rng.normal(size=50), "b": rng.normal(size=50)})
    >>> correlation_filter(X)
    ['a', 'b']
    """
    X = _check_frame(X)
    thr = _check_fraction("threshold", threshold)
    values = X.to_numpy(dtype=float)
    if not np.all(np.isfinite(values)) or np.any(np.ptp(values, axis=0) == 0):
        raise ValueError("X must be finite and have no constant column (filter them first)")
    if values.shape[1] == 1:
        return list(X.columns)
    r = np.abs(X.rank().corr().to_numpy())
    np.fill_diagonal(r, 0.0)
    keep = np.ones(r.shape[0], dtype=bool)
    while True:
        sub = np.where(keep[:, None] & keep[None, :], r, 0.0)
        i, j = np.unravel_index(np.argmax(sub), sub.shape)
        if sub[i, j] <= thr:
            break
        i, j = min(i, j), max(i, j)
        mean_i = sub[i, keep].sum() / (keep.sum() - 1)
        mean_j = sub[j, keep].sum() / (keep.sum() - 1)
        keep[i if mean_i > mean_j else j] = False
    return [c for c, k in zip(X.columns, keep) if k]


# --------------------------------------------------------------------------- Cox lasso with CV


def cox_deviance(eta: np.ndarray, time: np.ndarray, event: np.ndarray) -> np.ndarray:
    """``-2`` x Breslow log partial likelihood, for each column of linear predictors.

    Parameters
    ----------
    eta : ndarray, shape (n,) or (n, m)
        Linear predictors (higher = worse).
    time, event : ndarray, shape (n,)

    Returns
    -------
    ndarray, shape () or (m,)

    Examples
    --------
    >>> float(cox_deviance(np.zeros(3), np.array([1.0, 2.0, 3.0]), np.array([1, 1, 0])))  # 2 (log 3 + log 2)
    3.58351893845611
    """
    eta = np.asarray(eta, dtype=float)
    one = eta.ndim == 1
    eta = eta[:, None] if one else eta
    order = np.argsort(-time, kind="mergesort")
    ts, es, et = time[order], event[order].astype(bool), eta[order]
    shift = et.max(axis=0)
    cum = np.log(np.cumsum(np.exp(et - shift), axis=0)) + shift  # log sum over t_j >= t_(i), ties later
    last = np.searchsorted(-ts, -ts, side="right") - 1  # risk set includes all tied with t_i
    loglik = (et[es] - cum[last[es]]).sum(axis=0)
    dev = -2.0 * loglik
    return dev[0] if one else dev


@dataclass(frozen=True)
class CoxnetCV:
    """Cross-validated lasso Cox path (as ``cv.glmnet``).

    Attributes
    ----------
    alphas : ndarray, shape (m,)
        Penalties, decreasing (glmnet's lambda).
    coef : ndarray, shape (p, m)
        Coefficients of the whole-data path, per unit of z-scored feature.
    cv_mean, cv_se : ndarray, shape (m,)
        Cross-validated deviance per event and its SE (glmnet's cvm, cvsd).
    n_nonzero : ndarray of int, shape (m,)
    index_min, index_1se : int
        Positions of ``lambda.min`` and ``lambda.1se``.
    folds : ndarray of int, shape (n,)
        Fold of each row (0..n_folds-1).
    n_unconverged : int
        Path fits (of ``n_folds + 1``) whose coordinate descent hit its
        iteration limit somewhere on the path (scikit-survival's
        ConvergenceWarning, typically at the smallest penalties when features
        nearly separate the training events); their values are used as they are.
    """

    alphas: np.ndarray
    coef: np.ndarray
    cv_mean: np.ndarray
    cv_se: np.ndarray
    n_nonzero: np.ndarray
    index_min: int
    index_1se: int
    folds: np.ndarray = field(repr=False)
    n_unconverged: int = 0

    def index(self, rule: str) -> int:
        """Path position of ``rule`` (``"lambda.min"`` or ``"lambda.1se"``)."""
        return self.index_min if _check_rule(rule) == "lambda.min" else self.index_1se


def _stratified_folds(event: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """Seeded fold of each row, events and censored rows dealt out separately (every fold gets events)."""
    rng = np.random.default_rng(seed)
    folds = np.empty(event.size, dtype=int)
    start = 0
    for group in (np.flatnonzero(event), np.flatnonzero(~event)):
        folds[rng.permutation(group)] = (start + np.arange(group.size)) % n_folds
        start += group.size
    return folds


def _zscore(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mu = X.mean(axis=0)
    sd = X.std(axis=0)  # glmnet: 1/n
    sd = np.where(sd > 0, sd, 1.0)
    return (X - mu) / sd, mu, sd


def _coxnet_path(Z, time, event, alphas, alpha_min_ratio, l1_ratio):
    from sksurv.linear_model import CoxnetSurvivalAnalysis

    y = np.empty(time.size, dtype=[("event", bool), ("time", float)])
    y["event"], y["time"] = event, time
    model = CoxnetSurvivalAnalysis(l1_ratio=l1_ratio, alphas=alphas, alpha_min_ratio=alpha_min_ratio,
                                   n_alphas=100, normalize=False, fit_baseline_model=False, tol=1e-9)
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings(record=True) as caught:  # a path that stays empty is information
        warnings.filterwarnings("ignore", message="all coefficients are zero")
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(Z, y)
    for w in caught:  # anything else than non-convergence is passed on
        if not issubclass(w.category, ConvergenceWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return np.asarray(model.alphas_, dtype=float), np.asarray(model.coef_, dtype=float), converged


def cv_coxnet(X, time, event, *, n_folds: int = 10, seed: int = 0, alpha_min_ratio: float | str = "auto",
              l1_ratio: float = 1.0, alphas=None, folds=None) -> CoxnetCV:
    """Lasso Cox path with ``n_folds``-fold cross-validated deviance, as ``cv.glmnet``.

    Parameters
    ----------
    X : DataFrame or ndarray, shape (n, p)
        Finite features (z-scored inside each fit with that fit's rows).
    time, event : array-like, shape (n,)
    n_folds : int
        Folds (glmnet's default 10). Rows are dealt out at random (seeded),
        events and censored rows separately, so that every fold holds events
        (glmnet draws ``foldid`` without stratification); a fold without
        events (possible with ``folds``) is left out of the mean, as glmnet.
    seed : int
    alpha_min_ratio : float or "auto"
        Smallest penalty as a fraction of the largest ("auto": 1e-4 if n > p
        else 0.01, glmnet's rule).
    l1_ratio : float
        1 = lasso (glmnet ``alpha``).
    alphas : array-like, optional
        Decreasing positive penalties to use instead of the computed path
        (glmnet's ``lambda``).
    folds : array-like of int, shape (n,), optional
        Fold of each row, 0..K-1 (glmnet's ``foldid`` minus 1); overrides
        ``n_folds`` and ``seed``.

    Returns
    -------
    CoxnetCV
        The path is cut to the penalties every fold reached (scikit-survival
        stops a path early once the deviance ratio saturates).
    """
    Xv = np.asarray(X, dtype=float)
    if Xv.ndim != 2 or not np.all(np.isfinite(Xv)):
        raise ValueError("X must be a finite 2-D array of features")
    t, e = _check_outcome(time, event, Xv.shape[0])
    l1 = _check_fraction("l1_ratio", l1_ratio)
    if folds is None:
        if int(n_folds) != n_folds or not 3 <= n_folds <= Xv.shape[0]:
            raise ValueError(f"n_folds must be an integer in [3, n], got {n_folds!r}")
        folds = _stratified_folds(e, int(n_folds), seed)
    else:
        folds = np.asarray(folds)
        n_folds = int(folds.max()) + 1 if folds.size else 0
        if (folds.shape != (Xv.shape[0],) or not np.array_equal(folds, folds.astype(int)) or n_folds < 3
                or set(folds.tolist()) != set(range(n_folds))):
            raise ValueError("folds must hold one integer per row, using every fold 0..K-1, K >= 3")
        folds = folds.astype(int)
    if alphas is not None:
        alphas = np.asarray(alphas, dtype=float).ravel()
        if alphas.size < 2 or not np.all(np.isfinite(alphas)) or np.any(alphas <= 0) or np.any(np.diff(alphas) >= 0):
            raise ValueError("alphas must be at least 2 decreasing positive numbers")
    Z, _, _ = _zscore(Xv)
    alphas, coef, ok = _coxnet_path(Z, t, e, alphas, alpha_min_ratio, l1)
    unconverged = int(not ok)
    m = alphas.size
    raw = np.full((int(n_folds), m), np.nan)
    w = np.zeros(int(n_folds))
    for k in range(int(n_folds)):
        tr = folds != k
        Zk, mu, sd = _zscore(Xv[tr])
        a_k, c_k, ok = _coxnet_path(Zk, t[tr], e[tr], alphas, alpha_min_ratio, l1)
        unconverged += int(not ok)
        beta = c_k / sd[:, None]  # per unit of raw feature; centring cancels in the partial likelihood
        m = min(m, a_k.size)
        raw[k, :a_k.size] = cox_deviance(Xv @ beta, t, e) - cox_deviance(Xv[tr] @ beta, t[tr], e[tr])
        w[k] = e[~tr].sum()
    used = w > 0  # glmnet: a fold without events gets weight 0 (its deviance per event is undefined)
    if used.sum() < 2:
        raise ValueError("event: fewer than 2 folds hold an event")
    raw, w = raw[used, :m] / w[used, None], w[used]
    cvm = (raw * w[:, None]).sum(axis=0) / w.sum()
    cvsd = np.sqrt((((raw - cvm) ** 2) * w[:, None]).sum(axis=0) / w.sum() / (int(used.sum()) - 1))
    i_min = int(np.flatnonzero(cvm <= cvm.min())[0])  # largest penalty at the minimum
    i_1se = int(np.flatnonzero(cvm <= cvm[i_min] + cvsd[i_min])[0])
    coef = coef[:, :m]
    return CoxnetCV(alphas=alphas[:m], coef=coef, cv_mean=cvm, cv_se=cvsd,
                    n_nonzero=(np.abs(coef) > 0).sum(axis=0), index_min=i_min, index_1se=i_1se, folds=folds,
                    n_unconverged=unconverged)


# --------------------------------------------------------------------------- the whole reduction


@dataclass(frozen=True)
class FeatureSelection:
    """Handcrafted features chosen on a training cohort, and their Cox lasso weights.

    Attributes
    ----------
    features : list of str
        Selected features (non-zero lasso coefficient), in input order.
    coefficients : Series
        Log hazard ratio per training SD of each selected feature.
    mean, scale : Series
        Training mean and SD (1/n) of each selected feature.
    dropped : dict
        ``{"nonfinite", "near_zero_variance", "correlated"}`` -> dropped columns.
    candidates : list of str
        Features that entered the lasso (after the filters).
    cv : CoxnetCV
    rule : str
        ``"lambda.min"`` or ``"lambda.1se"``.
    alpha : float
        Chosen penalty.
    """

    features: list
    coefficients: pd.Series
    mean: pd.Series
    scale: pd.Series
    dropped: dict
    candidates: list
    cv: CoxnetCV = field(repr=False)
    rule: str
    alpha: float

    def predict(self, X: pd.DataFrame, *, impute: bool = False) -> np.ndarray:
        """Linear predictor ``sum_j beta_j (x_j - mean_j) / scale_j`` (higher = worse), shape (n,).

        Zero for every row when no feature was selected (mean 0 on the
        training cohort by construction). A non-finite value of a selected
        feature raises ValueError, or with ``impute=True`` is replaced by the
        training mean (see :meth:`n_imputed`).
        """
        Z = self._z(X)
        if not np.all(np.isfinite(Z)):
            if not impute:
                rows = np.flatnonzero(~np.isfinite(Z).all(axis=1))[:5].tolist()
                raise ValueError(f"X: non-finite selected feature values in rows {rows}")
            Z = np.where(np.isfinite(Z), Z, 0.0)
        return Z @ self.coefficients.to_numpy()

    def n_imputed(self, X: pd.DataFrame) -> np.ndarray:
        """Per row, how many selected feature values :meth:`predict` would impute, shape (n,)."""
        return (~np.isfinite(self._z(X))).sum(axis=1)

    def _z(self, X: pd.DataFrame) -> np.ndarray:
        if not isinstance(X, pd.DataFrame):
            raise ValueError("X must be a DataFrame with the selected feature columns")
        missing = [f for f in self.features if f not in X.columns]
        if missing:
            raise ValueError(f"X lacks selected feature columns: {missing[:5]}")
        if not self.features:
            return np.zeros((len(X), 0))
        return (X[self.features].to_numpy(dtype=float) - self.mean.to_numpy()) / self.scale.to_numpy()


def select_features(X: pd.DataFrame, time, event, *, freq_cut: float = 95 / 5, unique_cut: float = 10.0,
                    corr_threshold: float = 0.9, n_folds: int = 10, seed: int = 0,
                    rule: str = "lambda.min", alpha_min_ratio: float | str = 0.01) -> FeatureSelection:
    """Filters then cross-validated Cox lasso, on training patients only.

    Parameters
    ----------
    X : DataFrame, shape (n_train, p)
        Training patients' features (rows aligned with ``time``, ``event``).
    time, event : array-like, shape (n_train,)
        Training outcomes (e.g. DFS months, 0/1). Test outcomes are never passed.
    freq_cut, unique_cut : float
        :func:`near_zero_variance` rule.
    corr_threshold : float
        :func:`correlation_filter` threshold on ``|Spearman rho|``.
    n_folds, seed, alpha_min_ratio
        :func:`cv_coxnet`; the path ends at 1 % of the largest penalty
        (glmnet's choice when n < p: after filtering, a radiomics lasso has
        tens of candidates for tens of events, and smaller penalties only
        approach an unpenalised, non-converging fit).
    rule : {"lambda.min", "lambda.1se"}
        Penalty choice.

    Returns
    -------
    FeatureSelection

    Raises
    ------
    ValueError
        No feature survives the filters; bad outcomes.
    """
    X = _check_frame(X)
    t, e = _check_outcome(time, event, X.shape[0])
    rule = _check_rule(rule)
    if not (math.isfinite(float(freq_cut)) and freq_cut > 1):
        raise ValueError(f"freq_cut must be a number > 1, got {freq_cut!r}")
    nonfinite = nonfinite_features(X)
    X1 = X.drop(columns=nonfinite)
    nzv = near_zero_variance(X1, unique_cut=_check_fraction("unique_cut", unique_cut, 0, 100),
                             freq_cut=freq_cut) if X1.shape[1] else []
    X2 = X1.drop(columns=nzv)
    if X2.shape[1] == 0:
        raise ValueError("X: no feature survives the non-finite and near-zero-variance filters")
    kept = correlation_filter(X2, threshold=corr_threshold)
    correlated = [c for c in X2.columns if c not in kept]
    cv = cv_coxnet(X2[kept], t, e, n_folds=n_folds, seed=seed, alpha_min_ratio=alpha_min_ratio)
    i = cv.index(rule)
    beta = cv.coef[:, i]
    sel = [c for c, b in zip(kept, beta) if b != 0]
    Xs = X2[sel].to_numpy(dtype=float)
    mean = pd.Series(Xs.mean(axis=0), index=sel, dtype=float)
    sd = Xs.std(axis=0)
    scale = pd.Series(np.where(sd > 0, sd, 1.0), index=sel, dtype=float)
    coefs = pd.Series(beta[beta != 0], index=sel, dtype=float)
    return FeatureSelection(features=sel, coefficients=coefs, mean=mean, scale=scale,
                            dropped={"nonfinite": nonfinite, "near_zero_variance": nzv, "correlated": correlated},
                            candidates=list(kept), cv=cv, rule=rule, alpha=float(cv.alphas[i]))
