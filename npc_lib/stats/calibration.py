"""Calibration of predicted survival at a fixed time, as rms ``calibrate(cmethod="KM")``.

:func:`calibration_curve` reproduces the apparent (bootstrap-free) columns of
``rms::calibrate(fit, u, cmethod="KM", m)`` for a Cox model: subjects are
grouped by their predicted survival at ``u`` and each group's mean
prediction is set against its Kaplan-Meier survival at ``u``.

Grouping (rms ``calibrate.cph`` then ``groupkm``, Hmisc ``cut2``)
-----------------------------------------------------------------
``g = max(1, floor(n / m))`` groups; cut points are the type-7 quantiles
``quantile(c(0, 1, S), seq(0, 1, length = g + 1))`` of the predictions
padded with 0 and 1; ``cut2(S, cuts)`` makes the left-closed intervals
``[c_k, c_{k+1})`` (the last closed), implemented as R's ``cut`` on
``cuts - d`` with ``d`` half the smallest gap between distinct values of
``S`` and the cuts. In each group with at least 2 subjects: ``mean_predicted``
= mean of ``S``, ``km`` = Kaplan-Meier at ``u`` (the last step at or before
``u + 1e-6``; NaN when ``u`` is past the group's last time and ``S > 0``) and
``std_err`` = Greenwood standard error of ``log KM`` (``survfit``'s
``std.err``). ``index_orig = km - mean_predicted``.

Goodness-of-fit tests (Hosmer-Lemeshow type, on the same groups)
-----------------------------------------------------------------
``test="gnd"`` (default), the Greenwood-Nam-D'Agostino test of Demler,
Paynter & Cook (2015)::

    chi2 = sum_g (KM_g(u) - Sbar_g)^2 / Var_Greenwood(KM_g(u)),   df = G - 1

``test="dn"``, the original D'Agostino-Nam (2004) test::

    chi2 = sum_g n_g (KM_g(u) - Sbar_g)^2 / (pbar_g (1 - pbar_g)),
    pbar_g = 1 - Sbar_g,   df = G - 1

``Sbar_g`` is the mean predicted survival and ``G`` the number of groups
with a usable Kaplan-Meier estimate (``gnd`` also drops groups whose
Greenwood variance is 0 or undefined, i.e. ``KM`` of 0 or 1). DN's binomial
variance ignores censoring and is liberal when many are censored before
``u``: in a simulation with the *true* survival as prediction (~17 %
censored before ``u``, 10 groups of 300) the 5 % level was exceeded in 18 %
of runs for DN and 11 % for GND (7 % for GND if ``df = G``, the null
distribution when nothing is fitted; ``G - 1`` follows Demler et al. for a
model fitted to the same data). Demler et al. advise groups of at least 5
events, which neither test enforces.

Risk convention: predictions are *survival* probabilities (higher =
better); a calibrated model has ``km`` close to ``mean_predicted``.

References
----------
Harrell FE. Regression Modeling Strategies, 2nd ed. Springer 2015 (rms
``calibrate``, ``groupkm``; Hmisc ``cut2``).
D'Agostino RB, Nam BH. Evaluation of the performance of survival analysis
models: discrimination and calibration measures. In: Balakrishnan N, Rao CR
(eds). Handbook of Statistics vol. 23. Elsevier 2004:1-25.
Demler OV, Paynter NP, Cook NR. Tests of calibration and goodness-of-fit in
the survival setting. Stat Med 2015;34:1659-1680.
"""

from __future__ import annotations

__all__ = ["CalibrationTest", "CalibrationResult", "calibration_curve"]

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as _sps

from ._validation import check_probability, check_survival, check_time_point
from .kaplan_meier import KaplanMeier

_Z975 = float(_sps.norm.isf(0.025))

# --------------------------------------------------------------------------- validators


def _check_m(m) -> int:
    if isinstance(m, bool) or not float(m).is_integer() or m < 1:
        raise ValueError(f"m must be a positive integer, got {m!r}")
    return int(m)


# --------------------------------------------------------------------------- grouping


def _rms_cuts(pred: np.ndarray, m: int) -> np.ndarray:
    """``quantile(c(0, 1, pred), seq(0, 1, length = g + 1))``, ``g = max(1, n %/% m)``."""
    g = max(1, pred.size // m)
    return np.quantile(np.concatenate([[0.0, 1.0], pred]), np.linspace(0.0, 1.0, g + 1))


def _cut2(x: np.ndarray, cuts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hmisc ``cut2(x, cuts)``: group codes ``0..len(cuts)-2`` (``-1`` = outside) and the cuts
    (extended to the data range, as ``minmax=TRUE``)."""
    cuts = np.asarray(cuts, dtype=float)
    lo, hi = x.min(), x.max()
    if lo < cuts[0]:
        cuts = np.concatenate([[lo], cuts])
    if hi > cuts.max():
        cuts = np.concatenate([cuts, [hi]])
    distinct = np.unique(np.concatenate([x, cuts]))
    half_gap = np.min(np.diff(distinct)) / 2.0 if distinct.size > 1 else 0.0
    breaks = cuts - half_gap
    breaks[-1] = cuts[-1]
    if np.any(np.diff(breaks) <= 0):
        raise ValueError("predicted_survival: tied quantile cut points (too many equal "
                         "predictions for m); R's cut() fails here too; use a larger m")
    code = np.searchsorted(breaks, x, side="left") - 1  # (b_k, b_{k+1}]
    code[(x <= breaks[0]) | (x > breaks[-1])] = -1
    return code, cuts


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class CalibrationTest:
    """Hosmer-Lemeshow-type test (``method``): ``statistic`` ~ chi2(``df``), ``p_value``."""

    method: str
    statistic: float
    df: int
    p_value: float


@dataclass(frozen=True)
class CalibrationResult:
    """Calibration at time ``t``.

    ``table``: one row per group (``cut_low, cut_high, n, events,
    mean_predicted, km, std_err, lower, upper, index_orig``); ``lower/upper``
    is the 95 % interval ``km * exp(-/+ 1.96 std_err)`` capped at 1 (rms
    ``groupkm``'s plot). ``test``: :class:`CalibrationTest` (GND or DN, see
    the module notes). ``cuts``: the cut points used.
    """

    t: float
    table: pd.DataFrame
    test: CalibrationTest
    cuts: np.ndarray


# --------------------------------------------------------------------------- public API


def calibration_curve(time, event, predicted_survival, t, m: int = 150, cuts=None,
                      test: str = "gnd") -> CalibrationResult:
    """Observed (Kaplan-Meier) vs mean predicted survival at ``t`` by groups of predictions.

    Parameters
    ----------
    time : array-like, shape (n,)
        Follow-up times (any unit), non-negative.
    event : array-like of 0/1 or bool, shape (n,)
    predicted_survival : array-like, shape (n,)
        Each subject's predicted probability of being event-free at ``t``
        (e.g. ``S0(t) ** exp(lp)`` from a Cox model), in [0, 1].
    t : float
        Evaluation time, ``0 < t <= max(time)``.
    m : int, default 150
        Average subjects per group (rms ``calibrate.cph`` default):
        ``g = max(1, n // m)`` groups at quantiles of the predictions.
    cuts : array-like, optional
        Explicit cut points (overrides ``m``), as rms' ``cuts``.
    test : {"gnd", "dn"}, default "gnd"
        Greenwood-Nam-D'Agostino or D'Agostino-Nam goodness-of-fit test.

    Returns
    -------
    CalibrationResult

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> lp = rng.normal(size=600)
    >>> t_event = rng.exponential(1.0 / np.exp(lp))
    >>> time = np.minimum(t_event, 3.0)
    >>> event = t_event <= 3.0
    >>> pred = np.exp(-np.exp(lp) * 1.0)          # true S(1 | lp)
    >>> cal = calibration_curve(time, event, pred, t=1.0, m=100)
    >>> cal.table.shape[0], int(cal.table.n.sum())
    (6, 600)
    >>> bool(np.all(np.abs(cal.table.index_orig) < 0.1)), cal.test.df
    (True, 5)
    """
    if test not in _TESTS:
        raise ValueError(f"test must be one of {tuple(_TESTS)}, got {test!r}")
    time, event = check_survival(time, event, min_n=2)
    pred = check_probability(predicted_survival, time.size, "predicted_survival")
    t = check_time_point(t, time)
    if cuts is None:
        cuts = _rms_cuts(pred, _check_m(m))
    else:
        cuts = np.sort(np.asarray(cuts, dtype=float))
        if cuts.ndim != 1 or cuts.size < 2 or not np.all(np.isfinite(cuts)):
            raise ValueError("cuts must be a 1-d sequence of at least 2 finite numbers")
    x = np.where(np.abs(pred) < 1e-10, 0.0, pred)  # groupkm: cut2 fails on tiny x
    code, used_cuts = _cut2(x, cuts)
    rows = []
    for k in range(used_cuts.size - 1):
        in_g = code == k
        n_g = int(in_g.sum())
        row = dict(cut_low=used_cuts[k], cut_high=used_cuts[k + 1], n=0, events=0,
                   mean_predicted=float(x[in_g].mean()) if n_g == 1 else np.nan,
                   km=np.nan, std_err=np.nan)
        if n_g >= 2:
            tg, eg = time[in_g], event[in_g]
            km = KaplanMeier.fit(tg, eg)
            surv, var_log = float(km.survival_at(t + 1e-6)[0]), float(km.var_log_at(t + 1e-6)[0])
            beyond = t > tg.max() + 1e-6 and km.survival[-1] > 0
            row.update(n=n_g, events=int(eg.sum()), mean_predicted=float(x[in_g].mean()),
                       km=np.nan if beyond else surv,
                       std_err=np.nan if (beyond or not np.isfinite(var_log)) else float(np.sqrt(var_log)))
        rows.append(row)
    table = pd.DataFrame(rows, columns=["cut_low", "cut_high", "n", "events", "mean_predicted",
                                        "km", "std_err"])
    with np.errstate(invalid="ignore"):
        table["lower"] = np.where(table.km == 0, 0.0, table.km * np.exp(-_Z975 * table.std_err))
        table["upper"] = np.where(table.km == 0, 0.0,
                                  np.minimum(1.0, table.km * np.exp(_Z975 * table.std_err)))
    table["index_orig"] = table.km - table.mean_predicted
    return CalibrationResult(t=t, table=table, test=_TESTS[test](table), cuts=used_cuts)


def _chi2_test(method: str, terms: np.ndarray) -> CalibrationTest:
    groups = int(terms.size)
    if groups < 2:
        return CalibrationTest(method, float("nan"), max(groups - 1, 0), float("nan"))
    stat = float(np.sum(terms))
    return CalibrationTest(method, stat, groups - 1, float(_sps.chi2.sf(stat, groups - 1)))


def _dagostino_nam(table: pd.DataFrame) -> CalibrationTest:
    """D'Agostino-Nam chi-square over the groups with a Kaplan-Meier estimate."""
    ok = (table.km.notna() & (table.n > 0)).to_numpy()
    s_bar = table.mean_predicted.to_numpy(float)[ok]
    p_bar = 1.0 - s_bar
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = table.n.to_numpy(float)[ok] * (table.km.to_numpy(float)[ok] - s_bar) ** 2 \
            / (p_bar * (1.0 - p_bar))
    return _chi2_test("D'Agostino-Nam", terms)


def _greenwood_nam_dagostino(table: pd.DataFrame) -> CalibrationTest:
    """GND chi-square: Greenwood variance of each group's Kaplan-Meier estimate."""
    var = (table.km * table.std_err).to_numpy(float) ** 2
    ok = np.isfinite(var) & (var > 0) & (table.n > 0).to_numpy()
    terms = (table.km.to_numpy(float)[ok] - table.mean_predicted.to_numpy(float)[ok]) ** 2 / var[ok]
    return _chi2_test("Greenwood-Nam-D'Agostino", terms)


_TESTS = {"gnd": _greenwood_nam_dagostino, "dn": _dagostino_nam}
