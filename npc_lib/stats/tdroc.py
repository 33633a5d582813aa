"""Time-dependent ROC curves and AUC at fixed times (cumulative cases / dynamic controls).

Three estimators of ``AUC(t) = P(M_i > M_j | T_i <= t < T_j)``, each a
transcription of the R code used for the paper's Fig. 4 and checked number
for number against R (``tests/data/R_ORACLE_README.md``):

``method="nne"``
    ``survivalROC(..., method="NNE", span=0.25 * n^-0.2)`` (Heagerty, Lumley
    & Pepe 2000): the survival of each subject at ``t`` is a Kaplan-Meier
    estimate on its nearest neighbours in marker value (survivalROC's
    symmetric window: ``lambda`` = distance from ``x`` to the sorted marker
    ``trunc(n span + 0.5)`` places above the first copy of ``x``, the window
    is ``|x_i - x| <= lambda``: survivalROC 1.0.3.1, the version behind the
    R reference numbers; the 1.0.0 source used ``trunc(n span / 2)``, which
    the R output rules out); sensitivity and specificity at cut ``c`` then
    follow from Bayes' rule with ``S_marginal = mean_i S(t | x_i)``.
``method="km"``
    ``survivalROC(..., method="KM")``: the survival of the subset
    ``{marker > c}`` by Kaplan-Meier for every cut ``c`` (the curve need not
    be monotone).

``method="marginal"``
    ``timeROC(T, delta, marker, cause=1, weighting="marginal", iid=TRUE)``
    (Blanche, Dartigues & Jacqmin-Gadda 2013): inverse probability of
    censoring weights from the Kaplan-Meier of the censoring times
    (prodlim's reverse Kaplan-Meier: at a tied time the events leave the
    risk set before the censorings), cases ``T < t`` with an event, controls
    ``T > t``; marker ties count 1/2. The standard error is timeROC's
    ``sd(iid representation) / sqrt(n)``, computed in ``O(n log n)`` instead of
    timeROC's ``O(n^2)`` matrices; the 95 % interval is ``AUC -/+ z se``
    (normal, not clipped, as ``confint.ipcwsurvivalROC``).

The survivalROC estimators report ``Survival`` = the pooled Kaplan-Meier
``S(t)``; timeROC reports ``survProb = #{T > t} / (n G(t))``, which equals the
same Kaplan-Meier value.

Both survivalROC estimators need one Kaplan-Meier per marker value; all of
them, at all evaluation times at once, come from one sweep (a few for the
irregular NNE windows of the tails) over the subjects in time order
(:mod:`npc_lib.stats.windowed_km`), whose cost is the summed window sizes:
about ``2 n^2 span`` for NNE (n = 10^5 and two times in about a second) and ``n^2 / 2``
for KM (n = 10^4 in well under a second). Only the smaller of the two
groups (events or censorings) needs a logarithm per window; the other sum
telescopes. The numbers agree with the one-sweep-per-time version kept in
``benchmarks/_nne_reference.py`` to rounding (about 1e-15).

Risk convention: ``marker`` is a risk score, **higher = worse**; a subject is
test-positive at threshold ``c`` when ``marker > c``.

References
----------
Heagerty PJ, Lumley T, Pepe MS. Time-dependent ROC curves for censored
survival data and a diagnostic marker. Biometrics 2000;56:337-344.
Akritas MG. Nearest neighbor estimation of a bivariate distribution under
random censoring. Ann Stat 1994;22:1299-1327.
Blanche P, Dartigues JF, Jacqmin-Gadda H. Estimating and comparing
time-dependent areas under receiver operating characteristic curves for
censored event times with competing risks. Stat Med 2013;32:5381-5397.
"""

from __future__ import annotations

__all__ = ["METHODS", "TimeROC", "time_dependent_auc", "time_dependent_roc"]

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as _sps

from ._validation import check_alpha, check_marker, check_survival, check_times
from .kaplan_meier import KaplanMeier
from .windowed_km import windowed_km

METHODS = ("nne", "km", "marginal")

# --------------------------------------------------------------------------- validators


def _check_method(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return method


def _check_times_arg(times, time: np.ndarray, event: np.ndarray, name: str) -> np.ndarray:
    """Each evaluation time needs an event at or before it and a subject beyond it."""
    ts = check_times(times, name=name)
    first_event = time[event].min()
    for t in ts:
        if t < first_event:
            raise ValueError(f"{name}={t:g} is before the first event ({first_event:g}): no cases")
        if not np.any(time > t):
            raise ValueError(f"{name}={t:g} is at or beyond the end of follow-up: no controls")
    return ts


def _check_span(span, n: int) -> float:
    if span is None:
        return 0.25 * n ** (-0.2)
    span = float(span)
    if not np.isfinite(span) or span <= 0:
        raise ValueError(f"span must be a positive number, got {span}")
    return span


# --------------------------------------------------------------------------- survivalROC NNE


def _nne_windows(xs: np.ndarray, ux: np.ndarray, span: float):
    """Window ``[lo, hi)`` in sorted-marker order for every unique marker value.

    survivalROC 1.0.3.1 (R, window="symmetric"): ``ddd = sort(x - u)``,
    ``index1 = #(ddd < 0) + 1 + trunc(n span + 0.5)`` capped at ``n``,
    ``lambda = ddd[index1]``; the window is ``-lambda <= x - u <= lambda``,
    compared in floating point exactly as R does (``x - u`` is monotone in
    ``x``, so the window is a contiguous run of the sorted markers; a start
    from ``searchsorted`` is moved over whole tie groups until R's test holds).
    """
    n = xs.size
    half = int(np.trunc(n * span + 0.5))
    first = np.searchsorted(xs, ux, side="left")
    idx1 = np.minimum(first + half, n - 1)
    lam = xs[idx1] - ux
    hi = np.searchsorted(xs, xs[idx1], side="right")  # exclusive; all of these qualify
    while True:
        grow = hi < n
        grow[grow] = (xs[hi[grow]] - ux[grow]) <= lam[grow]
        if not grow.any():
            break
        hi[grow] = np.searchsorted(xs, xs[hi[grow]], side="right")
    lo = np.minimum(np.searchsorted(xs, ux - lam, side="left"), first)
    while True:
        shrink = (xs[lo] - ux) < -lam
        if not shrink.any():
            break
        lo[shrink] = np.searchsorted(xs, xs[lo[shrink]], side="right")
    while True:
        grow = lo > 0
        grow[grow] = (xs[lo[grow] - 1] - ux[grow]) >= -lam[grow]
        if not grow.any():
            break
        lo[grow] = np.searchsorted(xs, xs[lo[grow] - 1], side="left")
    return lo, hi


def _nne_conditional_survival(time, event, marker, t, span):
    """survivalROC's ``S(t | x)`` for every unique marker value (vectorised NNE);
    ``t`` one time (shape (U,)) or increasing times (shape (m, U), one sweep)."""
    order = np.argsort(marker, kind="stable")
    xs = marker[order]
    ux = np.unique(xs)
    lo, hi = _nne_windows(xs, ux, span)
    win, win_inv = np.unique(np.stack([lo, hi]), axis=1, return_inverse=True)  # shared windows
    surv = windowed_km(time[order], event[order], t, win[0], win[1])
    return ux, surv[..., np.asarray(win_inv).ravel()]


def _roc_from_conditional(surv_u, count_u, n, s_marg):
    """survivalROC NNE: TP/FP at cuts ``marker > u_c`` (u ascending), last cut (0, 0)."""
    p1 = (n - np.cumsum(count_u)) / n
    sx = (np.sum(surv_u * count_u) - np.cumsum(surv_u * count_u)) / n
    tp = (p1 - sx) / (1.0 - s_marg)
    fp = sx / s_marg
    tp[-1] = fp[-1] = 0.0  # survivalROC sets the last cut to (0, 0) exactly
    return tp, fp


# --------------------------------------------------------------------------- survivalROC KM


def _km_subset_survival(time, event, marker, ux, t):
    """Kaplan-Meier ``S(t)`` of ``{marker > u_c}`` for every unique value ``u_c``."""
    order = np.argsort(marker, kind="stable")
    lo = np.searchsorted(marker[order], ux, side="right")
    hi = np.full(ux.size, marker.size)
    return windowed_km(time[order], event[order], t, lo, hi)


# --------------------------------------------------------------------------- timeROC marginal


def _weighted_below(values: np.ndarray, weights: np.ndarray, query: np.ndarray):
    """``sum_j w_j [v_j < q] + 0.5 sum_j w_j [v_j == q]`` for every query."""
    order = np.argsort(values, kind="stable")
    v = values[order]
    cw = np.concatenate([[0.0], np.cumsum(weights[order])])
    lo = np.searchsorted(v, query, side="left")
    hi = np.searchsorted(v, query, side="right")
    return cw[lo] + 0.5 * (cw[hi] - cw[lo])


def _timeroc_marginal(time, event, marker, t):
    """timeROC marginal AUC(t), its iid standard error, survProb, ROC points and counts."""
    order = np.argsort(time, kind="stable")
    T, d, M = time[order], event[order], marker[order]
    n = T.size
    gkm = KaplanMeier.fit(T, d, reverse=True)  # prodlim: events leave first at a tie
    g_minus = gkm.survival_at(T, left=True)
    g_t = float(gkm.survival_at(t)[0])
    case = (T < t) & d
    ctrl = T > t
    if not case.any():
        raise ValueError(f"t={t:g}: no event strictly before t (timeROC's cases are T < t)")
    w_case = np.where(case, 1.0 / (g_minus * n), 0.0)
    w_ctrl = np.where(ctrl, 1.0 / (g_t * n), 0.0)
    f01 = w_case.sum()
    s_t = w_ctrl.sum()
    # ROC points at thresholds "marker >= v", v unique descending, plus (0, 0)
    uv, minv = np.unique(-M, return_inverse=True)
    tp = np.concatenate([[0.0], np.cumsum(np.bincount(minv, weights=w_case))]) / f01
    fp = np.concatenate([[0.0], np.cumsum(np.bincount(minv, weights=w_ctrl))]) / s_t
    auc = float(np.sum(np.diff(fp) * (tp[1:] + tp[:-1]) / 2.0))
    thresholds = np.concatenate([-uv, [-np.inf]])  # positive: marker > threshold
    # ---- iid representation (compute_iid_decomposition_survival, Compute.iid.KM)
    nn = float(n) * n
    col_sum = np.zeros(n)  # sum over controls j of h_ij, for cases i
    col_sum[case] = nn * w_case[case] * w_ctrl[ctrl][0] * _weighted_below(
        M[ctrl], np.ones(int(ctrl.sum())), M[case])
    row_sum = np.zeros(n)  # sum over cases i of h_ij, for controls j
    above = w_case[case].sum() - _weighted_below(M[case], w_case[case], M[ctrl])
    row_sum[ctrl] = nn * w_ctrl[ctrl] * above
    h_star = col_sum.sum() / nn
    dit = n * w_case
    t_sup = ctrl / (ctrl.sum() / n)
    pos = np.arange(n)
    first = np.searchsorted(T, T, side="left")  # first index of each tie group
    cens = (~d).astype(float)
    lam = cens / (n - pos)
    big_a = np.cumsum(lam * n / (n - pos))
    c_k = n / (n - first)

    def v_of(a):  # sum_i a_i MatInt[i, k] for every k
        suffix = np.concatenate([np.cumsum(a[::-1])[::-1], [0.0]])
        ca = np.cumsum(a)
        return cens * c_k * suffix[first] - (np.cumsum(a * big_a) + big_a * (a.sum() - ca))

    scale = f01 * s_t
    les_k = ((col_sum.sum() + v_of(col_sum)) / n - h_star * (n + v_of(dit) / f01)) / scale
    les_j = (row_sum - n * h_star) / scale
    les_i = (col_sum - n * h_star * (t_sup + (dit - f01) / f01)) / scale
    iid = (les_k + les_j + les_i) / n
    se = float(np.std(iid, ddof=1) / np.sqrt(n))
    return dict(auc=auc, se=se, survival=float(s_t), fpr=fp, tpr=tp, thresholds=thresholds,
                cases=int(case.sum()), controls=int(ctrl.sum()),
                censored=int(n - case.sum() - ctrl.sum()))


# --------------------------------------------------------------------------- dispatch


def _survival_roc(time, event, marker, t, method, span, surv_u=None):
    """survivalROC NNE or KM: ROC points (FP ascending), AUC, pooled KM S(t).

    ``surv_u``: NNE ``S(t | x)`` per unique marker value if already computed
    (:func:`time_dependent_auc` does all times in one sweep).
    """
    n = time.size
    s_pooled = float(KaplanMeier.fit(time, event).survival_at(t)[0])
    ux, xrank = np.unique(marker, return_inverse=True)
    count_u = np.bincount(xrank, minlength=ux.size).astype(float)
    if method == "nne":
        if surv_u is None:
            _, surv_u = _nne_conditional_survival(time, event, marker, t, span)
        s_marg = float(np.sum(surv_u * count_u) / n)
        if not 0.0 < s_marg < 1.0:
            raise ValueError(f"t={t:g}: NNE marginal survival is {s_marg:g}; AUC undefined")
        tp, fp = _roc_from_conditional(surv_u, count_u, n, s_marg)
    else:
        s_sub = _km_subset_survival(time, event, marker, ux, t)
        p0 = (n - np.cumsum(count_u)) / n
        tp = (1.0 - s_sub) * p0 / (1.0 - s_pooled)
        fp = s_sub * p0 / s_pooled
        tp[-1] = fp[-1] = 0.0
    # survivalROC: x = c(1, FP), y = c(1, TP); cuts -Inf, u_1 < ... < u_q
    fpr = np.concatenate([[1.0], fp])[::-1]
    tpr = np.concatenate([[1.0], tp])[::-1]
    thresholds = np.concatenate([[-np.inf], ux])[::-1]
    auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))
    return dict(auc=auc, survival=s_pooled, fpr=fpr, tpr=tpr, thresholds=thresholds)


def _counts(time, event, t):
    cases = int(np.sum((time < t) & event))
    controls = int(np.sum(time > t))
    return dict(cases=cases, controls=controls, censored=int(time.size - cases - controls))


@dataclass(frozen=True)
class TimeROC:
    """ROC curve at time ``t``: ``fpr``/``tpr`` ascending from (0, 0) to (1, 1) at
    ``thresholds`` (decreasing; test-positive means ``marker > threshold``), the
    area ``auc``, ``survival`` (the estimator's S(t)) and ``method``."""

    time: float
    method: str
    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray
    auc: float
    survival: float


def time_dependent_roc(time, event, marker, t, method: str = "nne", span: float | None = None) -> TimeROC:
    """Time-dependent ROC curve at ``t`` (cumulative cases ``T <= t``, controls ``T > t``).

    Parameters
    ----------
    time : array-like, shape (n,)
        Follow-up times (any unit), non-negative.
    event : array-like of 0/1 or bool, shape (n,)
    marker : array-like, shape (n,)
        Risk score, **higher = worse**. Not constant.
    t : float
        Evaluation time, same unit as ``time``; needs an event at or before it
        and a subject followed beyond it.
    method : {"nne", "km", "marginal"}
        survivalROC NNE, survivalROC KM, or timeROC's marginal IPCW estimator.
    span : float, optional
        NNE span; default ``0.25 * n ** -0.2``. Ignored by the other methods.

    Returns
    -------
    TimeROC

    Examples
    --------
    >>> roc = time_dependent_roc([1, 2, 3, 4, 5, 6, 7, 8], [1, 1, 0, 1, 0, 1, 0, 0],
    ...                          [8, 7, 1, 6, 2, 5, 3, 4], t=4.5, method="km")
    >>> roc.thresholds.tolist()
    [8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0, -inf]
    >>> roc.fpr.round(3).tolist()
    [0.0, 0.0, 0.0, 0.0, 0.208, 0.417, 0.625, 0.833, 1.0]
    >>> round(roc.auc, 4), round(roc.survival, 2)   # KM-based curves need not be monotone
    (0.9427, 0.6)
    """
    method = _check_method(method)
    time, event = check_survival(time, event, min_n=2)
    marker = check_marker(marker, time.size, "marker")
    if np.ndim(t) != 0:
        raise ValueError("t must be a single number")
    t = float(_check_times_arg(t, time, event, "t")[0])
    if method == "marginal":
        r = _timeroc_marginal(time, event, marker, t)
    else:
        r = _survival_roc(time, event, marker, t, method, _check_span(span, time.size))
    return TimeROC(time=t, method=method, fpr=r["fpr"], tpr=r["tpr"],
                   thresholds=r["thresholds"], auc=r["auc"], survival=r["survival"])


def time_dependent_auc(time, event, marker, times, method: str = "nne", span: float | None = None,
                       alpha: float = 0.05) -> pd.DataFrame:
    """Time-dependent AUC at each of ``times`` (survivalROC NNE/KM or timeROC marginal).

    Parameters
    ----------
    time, event, marker : array-like, shape (n,)
        As :func:`time_dependent_roc` (``marker`` higher = worse).
    times : float or array-like, shape (m,)
        Evaluation times.
    method : {"nne", "km", "marginal"}
    span : float, optional
        NNE span (default ``0.25 * n ** -0.2``).
    alpha : float, default 0.05
        Level of the normal interval (``method="marginal"`` only).

    Returns
    -------
    pandas.DataFrame
        One row per time: ``time, auc, survival, se, lower, upper, cases,
        controls, censored``. ``se`` is timeROC's iid standard error and
        ``lower/upper = auc -/+ z se`` (marginal only; NaN otherwise).
        ``survival`` is survivalROC's pooled Kaplan-Meier ``S(t)`` or timeROC's
        ``survProb`` (the same number). ``cases`` = events with ``T < t``,
        ``controls`` = ``T > t``, ``censored`` = the rest (timeROC's counts).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=200)
    >>> t_event = rng.exponential(np.exp(-x))
    >>> t_cens = rng.exponential(2.0, size=200)
    >>> time, event = np.minimum(t_event, t_cens), t_event <= t_cens
    >>> res = time_dependent_auc(time, event, x, [0.5, 1.0], method="marginal")
    >>> list(res.columns)[:4]
    ['time', 'auc', 'survival', 'se']
    >>> bool(((res.auc > 0.6) & (res.se > 0) & (res.lower < res.auc)).all())
    True
    """
    method = _check_method(method)
    time, event = check_survival(time, event, min_n=2)
    marker = check_marker(marker, time.size, "marker")
    ts = _check_times_arg(times, time, event, "times")
    z = float(_sps.norm.isf(check_alpha(alpha) / 2.0))
    if method == "nne":  # one windowed sweep gives S(t | x) at every time
        uts = np.unique(ts)
        _, surv_all = _nne_conditional_survival(time, event, marker, uts, _check_span(span, time.size))
    rows = []
    for t in ts:
        if method == "marginal":
            r = _timeroc_marginal(time, event, marker, float(t))
            se = r["se"]
        else:
            surv_u = surv_all[np.searchsorted(uts, t)] if method == "nne" else None
            r = _survival_roc(time, event, marker, float(t), method, _check_span(span, time.size), surv_u)
            se = float("nan")
        rows.append(dict(time=float(t), auc=r["auc"], survival=r["survival"], se=se,
                         lower=r["auc"] - z * se, upper=r["auc"] + z * se,
                         **_counts(time, event, float(t))))
    return pd.DataFrame(rows, columns=["time", "auc", "survival", "se", "lower", "upper",
                                       "cases", "controls", "censored"])
