"""High- vs low-risk groups on every endpoint: HR, log-rank, Kaplan-Meier rates and curves (A16).

The paper's Fig. 3 stratifies overall survival (OS), distant metastasis-free
survival (DMFS) and locoregional relapse-free survival (LRFS) by the
nomogram's risk groups, whose cut-off was fixed on the training cohort for
DFS (Fig. 2D-E) and is applied unchanged to every endpoint and cohort. For
each (cohort, endpoint) this module gives what a Kaplan-Meier figure of that
kind reports:

* :func:`compare_risk_groups`: patients and events per group, the hazard
  ratio high vs low with its Wald 95 % CI and p (``coxph(Surv ~ group)``),
  and the log-rank test (``survdiff``); "not estimable" (HR NaN,
  ``estimable=False``, counts kept) when a group is empty, has no event, or
  the likelihood is monotone (R: "Loglik converged before variable ...;
  coefficient may be infinite");
* :func:`endpoint_table`: one row per (cohort, endpoint) with the above and
  the Kaplan-Meier rate with its 95 % CI (log scale, survfit's default) per
  group at each of ``times`` (e.g. 36 and 60 months);
* :func:`km_curve_table` and :func:`at_risk_table`: the step functions and
  the numbers at risk behind the figures, as long tables.

A rate at ``t`` beyond a group's last follow-up is NaN (R's
``summary(survfit, times, extend=TRUE)`` would carry the last value forward;
it is not an estimate of ``S(t)``).

Risk convention: ``group`` 1 = high risk (``risk > cutoff``), 0 = low risk;
``hr > 1`` means the high-risk group does worse. Times in months.

References
----------
Therneau TM. survival: A Package for Survival Analysis in R (coxph, survdiff, survfit).
Zhong L-Z et al. Radiother Oncol 2020 (Fig. 3).
"""

from __future__ import annotations

__all__ = ["GROUP_LABELS", "compare_risk_groups", "endpoint_table", "km_curve_table", "at_risk_table"]

import warnings
from typing import Sequence

import numpy as np
import pandas as pd

from ._validation import check_columns, check_group01, check_survival, check_times
from .cox import CoxConvergenceWarning, check_ties
from .kaplan_meier import hazard_ratio, kaplan_meier, logrank_test

#: 0/1 risk group -> name used in column names and long tables
GROUP_LABELS = {0: "low", 1: "high"}


def compare_risk_groups(time, event, group, ties: str = "efron", at: float | None = None) -> dict:
    """Counts, HR high vs low (95 % CI, Wald p) and log-rank test of two risk groups.

    Parameters
    ----------
    time : array-like, shape (n,)
        Follow-up in months (any unit), non-negative.
    event : array-like of 0/1 or bool, shape (n,)
        1 = event. Data without events are allowed (everything but the counts is NaN).
    group : array-like of 0/1 or bool, shape (n,)
        1 = high risk.
    ties : {"efron", "breslow"}
    at : float, optional
        A time (months) at which to add each group's Kaplan-Meier survival.

    Returns
    -------
    dict
        ``n, events, n_low, n_high, events_low, events_high`` (int);
        ``coef, se, hr, hr_lower, hr_upper, p`` (Cox Wald, high vs low; NaN
        when not estimable); ``logrank_chi2, logrank_p`` (1 df; NaN with an
        empty group or no event); ``estimable`` (bool: the HR is finite) and
        ``note`` (why not; "" otherwise); with ``at``: ``surv_low, surv_high``
        (Kaplan-Meier at ``at``; 1 without events, NaN past a group's follow-up
        or for an empty group).

    Examples
    --------
    >>> r = compare_risk_groups([1, 2, 3, 4, 5, 6, 7, 8], [1, 1, 1, 0, 1, 1, 0, 1],
    ...                         [1, 1, 0, 1, 0, 0, 0, 0])
    >>> r["n_high"], r["events_high"], r["estimable"], bool(r["hr"] > 1)
    (3, 2, True, True)
    >>> r = compare_risk_groups([1, 2, 3, 4], [1, 0, 1, 0], [0, 0, 1, 1])   # high event after all low
    >>> r["estimable"], r["events_low"], r["events_high"], r["note"].split(" (")[0]
    (False, 1, 1, 'monotone likelihood')
    >>> compare_risk_groups([1, 2, 3, 4], [1, 1, 0, 0], [1, 1, 0, 0])["note"]
    'no event in the low-risk group: HR not estimable'
    >>> r = compare_risk_groups([1, 2, 3, 4, 5, 6], [1, 0, 1, 0, 0, 0], [1, 1, 1, 0, 0, 0], at=2.5)
    >>> round(r["surv_high"], 3), r["surv_low"]
    (0.667, 1.0)
    """
    check_ties(ties)
    t, e = check_survival(time, event, min_events=0)
    hi = check_group01(group, t.size)
    out = {"n": int(t.size), "events": int(e.sum()), "n_low": int((~hi).sum()), "n_high": int(hi.sum()),
           "events_low": int(e[~hi].sum()), "events_high": int(e[hi].sum()),
           "coef": np.nan, "se": np.nan, "hr": np.nan, "hr_lower": np.nan, "hr_upper": np.nan, "p": np.nan,
           "logrank_chi2": np.nan, "logrank_p": np.nan, "estimable": False, "note": ""}
    if at is not None:
        when = np.array([float(at)])
        out.update(surv_low=float(_km_at(t[~hi], e[~hi], when)["survival"].iloc[0]),
                   surv_high=float(_km_at(t[hi], e[hi], when)["survival"].iloc[0]))
    empty = [GROUP_LABELS[k] for k, m in ((0, out["n_low"]), (1, out["n_high"])) if m == 0]
    if empty:
        out["note"] = f"no patient in the {' and '.join(empty)}-risk group: HR not estimable"
        return out
    if not e.any():
        out["note"] = "no event: HR not estimable"
        return out
    lr = logrank_test(t, e, hi.astype(int))
    out.update(logrank_chi2=float(lr.chi2), logrank_p=float(lr.p_value))
    none = [GROUP_LABELS[k] for k, m in ((0, out["events_low"]), (1, out["events_high"])) if m == 0]
    if none:
        out["note"] = f"no event in the {' and '.join(none)}-risk group: HR not estimable"
        return out
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CoxConvergenceWarning)
        hr = hazard_ratio(t, e, hi.astype(int), ties=ties)
    if any(issubclass(w.category, CoxConvergenceWarning) for w in caught):
        out["note"] = "monotone likelihood (coefficient may be infinite): HR not estimable"
        return out
    out.update(coef=hr.coef, se=hr.se, hr=hr.hr, hr_lower=hr.lower, hr_upper=hr.upper, p=hr.p_value,
               estimable=True)
    return out


def _km_at(t: np.ndarray, e: np.ndarray, times: np.ndarray) -> pd.DataFrame:
    """Kaplan-Meier rate, 95 % CI and numbers at risk at ``times``; NaN past the last follow-up."""
    if t.size == 0:
        nan = np.full(times.size, np.nan)
        return pd.DataFrame({"time": times, "survival": nan, "lower": nan, "upper": nan,
                             "n_risk": np.zeros(times.size, int), "beyond_last_time": np.ones(times.size, bool)})
    km = kaplan_meier(t, e, times=times)    # without events: S = 1, interval (1, 1) as R
    beyond = km["beyond_last_time"].to_numpy(bool)
    for c in ("survival", "lower", "upper"):
        km.loc[beyond, c] = np.nan
    return km[["time", "survival", "lower", "upper", "n_risk", "beyond_last_time"]]


def _rate_columns(t: np.ndarray, e: np.ndarray, hi: np.ndarray, times: np.ndarray) -> dict:
    cols, beyond = {}, []
    for k, label in GROUP_LABELS.items():
        m = hi if k == 1 else ~hi
        km = _km_at(t[m], e[m], times)
        for row in km.itertuples():
            tag = f"{label}_{row.time:g}"
            cols.update({f"surv_{tag}": row.survival, f"lower_{tag}": row.lower, f"upper_{tag}": row.upper})
            if row.beyond_last_time and m.any():
                beyond.append(f"{label}-risk group followed < {row.time:g}")
    return {**cols, "_beyond": "; ".join(beyond)}


def _cohorts(df: pd.DataFrame, by: str | None):
    if by is None:
        return [("all", df)]
    check_columns(df, [by])
    return [(str(k), part) for k, part in df.groupby(by, sort=False)]


def _endpoint_data(df, endpoints, group, by, time_col, event_col):
    """``(cohort, endpoint, time, event, high)`` of every cohort and endpoint, each checked."""
    for cohort, part in _cohorts(df, by):
        hi = check_group01(part[group].to_numpy(), len(part), name=f"column {group!r}")
        for ep in endpoints:
            t, e = check_survival(part[time_col.format(ep)].to_numpy(), part[event_col.format(ep)].to_numpy(),
                                  name_time=f"column {time_col.format(ep)!r}",
                                  name_event=f"column {event_col.format(ep)!r}", min_events=0)
            yield cohort, ep, t, e, hi


def endpoint_table(df: pd.DataFrame, endpoints: Sequence[str], *, group: str = "group",
                   by: str | None = "cohort", times: Sequence[float] = (36.0, 60.0),
                   time_col: str = "{}_time", event_col: str = "{}_event", ties: str = "efron") -> pd.DataFrame:
    """Risk-group comparison of every endpoint in every cohort: one tidy row per (cohort, endpoint).

    Parameters
    ----------
    df : pandas.DataFrame
        One row per patient: ``group`` (0/1, 1 = high risk), the cohort column
        ``by`` and, per endpoint ``E``, ``time_col.format(E)`` (months) and
        ``event_col.format(E)`` (0/1).
    endpoints : sequence of str
        E.g. ``["os", "dmfs", "lrfs", "dfs"]``; rows keep this order.
    group, by : str
        Column names; ``by=None`` treats ``df`` as one cohort labelled ``"all"``.
    times : sequence of float
        Horizons of the Kaplan-Meier rates (months; 36 and 60 = 3 and 5 years).
    time_col, event_col : str
        Templates of the outcome columns.
    ties : {"efron", "breslow"}

    Returns
    -------
    pandas.DataFrame
        ``cohort, endpoint``, the keys of :func:`compare_risk_groups` and, per
        group ``g`` in (low, high) and horizon ``t``, ``surv_g_t, lower_g_t,
        upper_g_t`` (e.g. ``surv_high_60``; NaN past the group's follow-up,
        which ``note`` then says).

    Examples
    --------
    >>> d = pd.DataFrame({"cohort": ["train"] * 6, "group": [0, 0, 0, 1, 1, 1],
    ...                   "os_time": [10., 40, 70, 5, 20, 65], "os_event": [0, 0, 1, 1, 1, 0]})
    >>> r = endpoint_table(d, ["os"], times=[36])
    >>> r[["cohort", "endpoint", "events_low", "events_high"]].values.tolist()
    [['train', 'os', 1, 2]]
    >>> r[["surv_low_36", "surv_high_36"]].round(4).values.tolist()
    [[1.0, 0.3333]]
    """
    check_ties(ties)
    if isinstance(endpoints, str):
        endpoints = [endpoints]
    endpoints = list(endpoints)
    if not endpoints:
        raise ValueError("endpoints is empty")
    ts = check_times(times, increasing=True)
    cols = [group, *(f.format(e) for e in endpoints for f in (time_col, event_col))]
    check_columns(df, cols)
    rows = []
    for cohort, ep, t, e, hi in _endpoint_data(df, endpoints, group, by, time_col, event_col):
        cmp = compare_risk_groups(t, e, hi, ties=ties)
        rates = _rate_columns(t, e, hi, ts)
        note = "; ".join(x for x in (cmp.pop("note"), rates.pop("_beyond")) if x)
        rows.append({"cohort": cohort, "endpoint": ep, **cmp, **rates, "note": note})
    return pd.DataFrame(rows)


def km_curve_table(df: pd.DataFrame, endpoints: Sequence[str], *, group: str = "group",
                   by: str | None = "cohort", time_col: str = "{}_time",
                   event_col: str = "{}_event") -> pd.DataFrame:
    """Kaplan-Meier step functions per (cohort, endpoint, group): the data of a Fig. 3 panel.

    Returns
    -------
    pandas.DataFrame
        Long form ``cohort, endpoint, group`` (``"low"``/``"high"``), ``time``
        (0 and every distinct observed time), ``survival, lower, upper``
        (95 %, log scale), ``n_risk, n_event, n_censor``. Aggregates only, no
        patient identifiers.

    Examples
    --------
    >>> d = pd.DataFrame({"group": [0, 0, 1, 1], "os_time": [2., 4, 1, 3], "os_event": [0, 1, 1, 1]})
    >>> k = km_curve_table(d, ["os"], by=None)
    >>> k[k.group == "high"][["time", "survival", "n_risk"]].values.tolist()
    [[0.0, 1.0, 2.0], [1.0, 0.5, 2.0], [3.0, 0.0, 1.0]]
    """
    cols = [group, *(f.format(e) for e in endpoints for f in (time_col, event_col))]
    check_columns(df, cols)
    parts = []
    for cohort, ep, t, e, hi in _endpoint_data(df, endpoints, group, by, time_col, event_col):
        for k, label in GROUP_LABELS.items():
            m = hi if k == 1 else ~hi
            if not m.any():
                continue
            km = kaplan_meier(t[m], e[m])
            censor = np.array([int(np.sum((t[m] == x) & ~e[m])) for x in km["time"]])
            km = km.assign(n_censor=censor)
            if km["time"].iloc[0] > 0:
                start = pd.DataFrame({"time": [0.0], "survival": [1.0], "lower": [1.0], "upper": [1.0],
                                      "n_risk": [int(m.sum())], "n_event": [0], "n_censor": [0]})
                km = pd.concat([start, km], ignore_index=True)
            km = km.assign(cohort=cohort, endpoint=ep, group=label)
            parts.append(km[["cohort", "endpoint", "group", "time", "survival", "lower", "upper",
                             "n_risk", "n_event", "n_censor"]])
    return pd.concat(parts, ignore_index=True)


def at_risk_table(df: pd.DataFrame, endpoints: Sequence[str], at: Sequence[float], *, group: str = "group",
                  by: str | None = "cohort", time_col: str = "{}_time") -> pd.DataFrame:
    """Numbers at risk (``time >= t``) per (cohort, endpoint, group) at each of ``at`` (months).

    Returns
    -------
    pandas.DataFrame
        Long form ``cohort, endpoint, group, time, n_risk``.

    Examples
    --------
    >>> d = pd.DataFrame({"group": [0, 0, 1, 1], "os_time": [2., 14, 1, 30]})
    >>> at_risk_table(d, ["os"], [0, 12], by=None)["n_risk"].tolist()
    [2, 1, 2, 1]
    """
    at = check_times(at, increasing=True)
    check_columns(df, [group, *(time_col.format(e) for e in endpoints)])
    rows = []
    for cohort, part in _cohorts(df, by):
        hi = check_group01(part[group].to_numpy(), len(part), name=f"column {group!r}")
        for ep in endpoints:
            t = part[time_col.format(ep)].to_numpy(dtype=float)
            for k, label in GROUP_LABELS.items():
                m = hi if k == 1 else ~hi
                rows += [{"cohort": cohort, "endpoint": ep, "group": label, "time": float(a),
                          "n_risk": int(np.sum(t[m] >= a))} for a in at]
    return pd.DataFrame(rows)
