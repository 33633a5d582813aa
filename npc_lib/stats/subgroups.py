"""Risk groups within subgroups: HR per subgroup level and the group x subgroup interaction (A17).

The paper's Fig. D2 stratifies patients by family history, sex, CRP, HGB and
smoking and reports that the nomogram "remained a statistically significant
prognostic model" in each. For one subgroup variable with levels
``l_1 .. l_K``:

* :func:`subgroup_hazard_ratios`: within each level, the hazard ratio of the
  high- vs the low-risk group (``coxph(Surv ~ group, subset = level)``),
  Wald 95 % CI and p, the log-rank test, and patients and events per risk
  group. A level in which a risk group is empty, has no event, or gives a
  monotone likelihood is "not estimable": HR NaN, ``estimable=False``, the
  counts kept (see :func:`npc_lib.stats.endpoints.compare_risk_groups`).
* :func:`interaction_test`: does the effect of the risk group differ between
  levels? The likelihood-ratio test of ``coxph(Surv ~ group * factor(sub))``
  against ``coxph(Surv ~ group + factor(sub))`` (one shared baseline hazard),
  as R's ``anova(fit0, fit1)``: ``chi2 = 2 (loglik_full - loglik_reduced)``
  on ``df`` = the number of estimable interaction terms (``K - 1`` unless a
  level lacks a risk group: its interaction column is aliased with the
  level's dummy and dropped, as R's ``NA`` coefficient).
  With a monotone likelihood (a risk group without events in a level) the
  interaction coefficient is infinite; the log-likelihood still converges
  to its supremum and R reports the test with a warning: so do we (``note``).
* :func:`subgroup_analysis`: both for several subgroup columns of a table,
  optionally per cohort.

Risk convention: ``group`` 1 = high risk; ``hr > 1`` = the high-risk group
does worse. The reference level of a subgroup is its first level (the first
category of a pandas Categorical, else the smallest value).

References
----------
Therneau TM, Grambsch PM. Modeling Survival Data. Springer 2000 (ch. 3).
Wang R, Lagakos SW, Ware JH, Hunter DJ, Drazen JM. Statistics in medicine:
reporting of subgroup analyses in clinical trials. NEJM 2007;357:2189-2194
(test the interaction rather than compare p-values across subgroups).
"""

from __future__ import annotations

__all__ = ["InteractionTest", "SubgroupAnalysis", "subgroup_hazard_ratios", "interaction_test",
           "subgroup_analysis"]

import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats as _sps

from ._validation import check_survival
from .cox import CoxConvergenceWarning, check_ties, fit_cox
from ._validation import check_columns, check_group01
from .endpoints import compare_risk_groups


_EMPTY_LEVEL = {"n": 0, "events": 0, "n_low": 0, "n_high": 0, "events_low": 0, "events_high": 0,
                **dict.fromkeys(("coef", "se", "hr", "hr_lower", "hr_upper", "p", "logrank_chi2", "logrank_p"),
                                np.nan),
                "estimable": False, "note": "no patient in this level"}


def _check_subgroup(subgroup, n: int, name: str = "subgroup") -> tuple[np.ndarray, list]:
    """Level index (n,) and level labels; a Categorical keeps its categories (also empty ones)."""
    if isinstance(subgroup, (pd.Series, pd.Categorical)) and isinstance(
            getattr(subgroup, "dtype", None), pd.CategoricalDtype):
        cat = pd.Categorical(subgroup)
    else:
        values = np.asarray(subgroup, dtype=object).ravel()
        if values.size != n:
            raise ValueError(f"{name} length {values.size} differs from time length {n}")
        if pd.isna(pd.Series(values)).any():
            raise ValueError(f"{name} contains missing values")
        try:
            levels = sorted(pd.unique(pd.Series(values)))
        except TypeError:
            levels = sorted(pd.unique(pd.Series(values)), key=str)
        cat = pd.Categorical(values, categories=levels)
    if len(cat) != n:
        raise ValueError(f"{name} length {len(cat)} differs from time length {n}")
    if (cat.codes < 0).any():
        raise ValueError(f"{name} contains missing values")
    return np.asarray(cat.codes, dtype=int), list(cat.categories)


@dataclass(frozen=True)
class InteractionTest:
    """Likelihood-ratio test of the group x subgroup interaction (see :func:`interaction_test`).

    Attributes
    ----------
    chi2, df, p : float, int, float
        ``2 (loglik_full - loglik_reduced)`` on ``df`` degrees of freedom; NaN (df 0) if not testable.
    loglik_reduced, loglik_full : float
        Log partial likelihoods of ``group + subgroup`` and ``group * subgroup``.
    n_levels : int
        Observed levels of the subgroup.
    dropped : tuple of str
        Aliased design columns left out (R: ``NA`` coefficients).
    note : str
        Why the test is missing, or a warning about it ("" if none).
    """

    chi2: float
    df: int
    p: float
    loglik_reduced: float
    loglik_full: float
    n_levels: int
    dropped: tuple
    note: str

    def to_dict(self) -> dict:
        return {"chi2": self.chi2, "df": self.df, "p": self.p, "loglik_reduced": self.loglik_reduced,
                "loglik_full": self.loglik_full, "n_levels": self.n_levels,
                "dropped": ", ".join(self.dropped), "note": self.note}


def _independent(X: np.ndarray, keep: list[int], j: int, tol: float = 1e-9) -> bool:
    """Is column ``j`` of ``X`` linearly independent of the columns ``keep`` (and the intercept)?"""
    cols = np.column_stack([np.ones(X.shape[0]), X[:, keep], X[:, j]])
    s = np.linalg.svd(cols, compute_uv=False)
    return bool(s[-1] > tol * s[0])


def _fit_loglik(d: pd.DataFrame, covariates: list[str], ties: str) -> tuple[float, bool]:
    """Log partial likelihood and whether the fit warned (monotone likelihood)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CoxConvergenceWarning)
        fit = fit_cox(d, "time", "event", covariates, ties=ties)
    return fit.loglik, any(issubclass(w.category, CoxConvergenceWarning) for w in caught)


def interaction_test(time, event, group, subgroup, ties: str = "efron") -> InteractionTest:
    """LRT of ``Surv ~ group * subgroup`` vs ``Surv ~ group + subgroup``, as R's ``anova`` of two coxph fits.

    Parameters
    ----------
    time, event : array-like, shape (n,)
        Months (any unit); 1 = event.
    group : array-like of 0/1 or bool, shape (n,)
        1 = high risk.
    subgroup : array-like, shape (n,)
        Level of each patient (any labels; a pandas Categorical keeps its
        category order, whose first level is the reference).
    ties : {"efron", "breslow"}

    Returns
    -------
    InteractionTest
        A small ``p`` says that the HR of the risk groups differs between
        the levels.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> g, s = rng.integers(0, 2, 200), rng.integers(0, 2, 200)
    >>> t = rng.exponential(np.exp(-(0.2 + 1.5 * s) * g))    # the HR differs by level
    >>> r = interaction_test(t, np.ones(200), g, s)
    >>> r.df, bool(r.p < 0.05)
    (1, True)
    """
    check_ties(ties)
    t, e = check_survival(time, event, min_events=0)
    hi = check_group01(group, t.size)
    codes, levels = _check_subgroup(subgroup, t.size)
    observed = [k for k in range(len(levels)) if np.any(codes == k)]
    nan = dict(chi2=np.nan, df=0, p=np.nan, loglik_reduced=np.nan, loglik_full=np.nan, n_levels=len(observed))
    if len(observed) < 2:
        return InteractionTest(**nan, dropped=(), note="fewer than two observed levels: no interaction test")
    if hi.all() or not hi.any():
        return InteractionTest(**nan, dropped=(), note="one risk group only: no interaction test")
    if not e.any():
        return InteractionTest(**nan, dropped=(), note="no event: no interaction test")
    names, cols = ["group"], [hi.astype(float)]
    for k in observed[1:]:
        names.append(f"level[{levels[k]}]")
        cols.append((codes == k).astype(float))
    n_main = len(names)
    for k in observed[1:]:
        names.append(f"group:level[{levels[k]}]")
        cols.append(hi * (codes == k).astype(float))
    X = np.column_stack(cols)
    keep: list[int] = []
    for j in range(X.shape[1]):
        if _independent(X, keep, j):
            keep.append(j)
    dropped = tuple(names[j] for j in range(X.shape[1]) if j not in keep)
    d = pd.DataFrame(X, columns=names).assign(time=t, event=e.astype(int))
    main = [names[j] for j in keep if j < n_main]
    full = [names[j] for j in keep]
    df = len(full) - len(main)
    if df == 0:
        return InteractionTest(**{**nan, "n_levels": len(observed)}, dropped=dropped,
                               note="every interaction term is aliased: no interaction test")
    ll0, warn0 = _fit_loglik(d, main, ties)
    ll1, warn1 = _fit_loglik(d, full, ties)
    chi2 = max(2.0 * (ll1 - ll0), 0.0)
    note = ("monotone likelihood (a coefficient may be infinite, as R warns): "
            "the test uses the limiting log-likelihood") if (warn0 or warn1) else ""
    return InteractionTest(chi2=float(chi2), df=int(df), p=float(_sps.chi2.sf(chi2, df)),
                           loglik_reduced=float(ll0), loglik_full=float(ll1), n_levels=len(observed),
                           dropped=dropped, note=note)


def subgroup_hazard_ratios(time, event, group, subgroup, ties: str = "efron") -> pd.DataFrame:
    """HR of high vs low risk within each level of ``subgroup``.

    Parameters
    ----------
    time, event, group, subgroup, ties
        As :func:`interaction_test`.

    Returns
    -------
    pandas.DataFrame
        One row per level (in level order, empty categories included):
        ``level`` (str) and the keys of
        :func:`npc_lib.stats.endpoints.compare_risk_groups` (``n, events,
        n_low, n_high, events_low, events_high, coef, se, hr, hr_lower,
        hr_upper, p`` (Wald), ``logrank_chi2, logrank_p, estimable, note``).

    Examples
    --------
    >>> r = subgroup_hazard_ratios([1, 2, 3, 4, 5, 6, 7, 8], [1, 1, 0, 1, 0, 0, 1, 0],
    ...                            [1, 0, 1, 0, 1, 1, 0, 0], ["a", "a", "a", "a", "b", "b", "b", "b"])
    >>> r[["level", "n_high", "events_high", "estimable"]].values.tolist()
    [['a', 2, 1, True], ['b', 2, 0, False]]
    >>> r["note"][1]
    'no event in the high-risk group: HR not estimable'

    """
    check_ties(ties)
    t, e = check_survival(time, event, min_events=0)
    hi = check_group01(group, t.size)
    codes, levels = _check_subgroup(subgroup, t.size)
    rows = []
    for k, level in enumerate(levels):
        m = codes == k
        if not m.any():
            rows.append({"level": str(level), **_EMPTY_LEVEL})
            continue
        rows.append({"level": str(level), **compare_risk_groups(t[m], e[m], hi[m], ties=ties)})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class SubgroupAnalysis:
    """Result of :func:`subgroup_analysis`.

    Attributes
    ----------
    levels : pandas.DataFrame
        One row per (cohort, variable, level): ``[by,] variable, level`` and
        the columns of :func:`subgroup_hazard_ratios`.
    interactions : pandas.DataFrame
        One row per (cohort, variable): ``[by,] variable`` and
        ``chi2, df, p, loglik_reduced, loglik_full, n_levels, dropped, note``
        of :func:`interaction_test`.
    """

    levels: pd.DataFrame
    interactions: pd.DataFrame


def subgroup_analysis(df: pd.DataFrame, subgroups: Sequence[str], *, time: str = "time", event: str = "event",
                      group: str = "group", by: str | None = None, ties: str = "efron") -> SubgroupAnalysis:
    """HR per subgroup level and interaction test for each subgroup column, per cohort.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per patient with the columns ``time`` (months), ``event``
        (0/1), ``group`` (0/1, 1 = high risk), the ``subgroups`` columns and
        optionally ``by``.
    subgroups : sequence of str
        Subgroup columns (e.g. ``["family_history", "sex", "crp_group",
        "hgb_group", "smoking"]``), in output order.
    by : str, optional
        Column splitting ``df`` into cohorts (e.g. ``"cohort"``), analysed separately.

    Returns
    -------
    SubgroupAnalysis

    Examples
    --------
    >>> d = pd.DataFrame({"time": [1, 2, 3, 4, 5, 6, 7, 8], "event": [1, 1, 0, 1, 1, 0, 1, 0],
    ...                   "group": [1, 0, 1, 0, 1, 1, 0, 0], "sex": list("MMMMFFFF")})
    >>> res = subgroup_analysis(d, ["sex"])
    >>> res.levels[["variable", "level"]].values.tolist(), int(res.interactions["df"][0])
    ([['sex', 'F'], ['sex', 'M']], 1)
    """
    check_ties(ties)
    if isinstance(subgroups, str):
        subgroups = [subgroups]
    subgroups = list(subgroups)
    if not subgroups:
        raise ValueError("subgroups is empty")
    check_columns(df, [time, event, group, *subgroups, *([by] if by else [])])
    parts = [(None, df)] if by is None else list(df.groupby(by, sort=False))
    levels, tests = [], []
    for cohort, part in parts:
        t, e = check_survival(part[time].to_numpy(), part[event].to_numpy(), name_time=f"column {time!r}",
                              name_event=f"column {event!r}", min_events=0)
        g = check_group01(part[group].to_numpy(), t.size, name=f"column {group!r}")
        key = {} if by is None else {by: cohort}
        for var in subgroups:
            sub = part[var]
            _check_subgroup(sub, t.size, name=f"column {var!r}")
            levels.append(subgroup_hazard_ratios(t, e, g, sub, ties=ties).assign(**key, variable=var))
            tests.append({**key, "variable": var, **interaction_test(t, e, g, sub, ties=ties).to_dict()})
    front = [*([by] if by else []), "variable", "level"]
    lv = pd.concat(levels, ignore_index=True)
    return SubgroupAnalysis(levels=lv[front + [c for c in lv.columns if c not in front]],
                            interactions=pd.DataFrame(tests))
