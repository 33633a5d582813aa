"""Summaries of a replication study: how often a claim held, and where a number's spread comes from.

* :func:`wilson_interval`: the Wilson score interval of a binomial proportion
  (the share of replicates in which a claim held). Unlike the Wald interval it
  stays inside [0, 1] and keeps its coverage near 0 and 1 (Newcombe 1998,
  method 3; statsmodels' ``proportion_confint(method="wilson")``).
* :func:`variance_components`: the one-way random-effects analysis of variance
  ``y_ij = mu + a_i + e_ij`` with the group (the twin) as the random effect:
  the between-group variance ``var(a)`` (twin-to-twin) and the within-group
  variance ``var(e)`` (split-to-split, same twin), by the ANOVA (method of
  moments) estimators, unbalanced groups allowed (Searle, Casella & McCulloch,
  *Variance Components*, 1992, section 3.5). The between-group estimate can be
  negative (when the groups' means vary less than the within-group variance
  predicts); it is reported raw and truncated at 0.
"""

from __future__ import annotations

__all__ = ["ProportionCI", "wilson_interval", "VarianceComponents", "variance_components"]

import dataclasses

import numpy as np
import pandas as pd
from scipy import stats as sps


def _check_level(level: float) -> float:
    if not 0.0 < float(level) < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level!r}")
    return float(level)


def _check_counts(successes, n) -> tuple[int, int]:
    if isinstance(successes, bool) or isinstance(n, bool) or int(successes) != successes or int(n) != n:
        raise ValueError(f"successes and n must be whole numbers, got {successes!r} and {n!r}")
    k, n = int(successes), int(n)
    if n < 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= successes <= n, got successes {k}, n {n}")
    return k, n


@dataclasses.dataclass(frozen=True)
class ProportionCI:
    """A proportion ``successes / n`` and its confidence interval (NaN when ``n`` is 0)."""

    successes: int
    n: int
    proportion: float
    lower: float
    upper: float
    level: float = 0.95


def wilson_interval(successes: int, n: int, level: float = 0.95) -> ProportionCI:
    """Wilson score interval of a binomial proportion.

    Parameters
    ----------
    successes : int
        Trials that succeeded (replicates in which a claim held), ``0 <= successes <= n``.
    n : int
        Trials (replicates in which the claim was assessed); 0 gives NaNs.
    level : float
        Confidence level (two-sided).

    Returns
    -------
    ProportionCI
        ``proportion = successes / n`` and the interval
        ``(p + z^2/2n -+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)``, ``z`` the
        normal quantile of ``1 - (1 - level)/2``.

    Examples
    --------
    >>> ci = wilson_interval(7, 10)
    >>> round(ci.proportion, 3), round(ci.lower, 4), round(ci.upper, 4)
    (0.7, 0.3968, 0.8922)
    >>> round(wilson_interval(0, 10).upper, 4)
    0.2775
    """
    level = _check_level(level)
    k, n = _check_counts(successes, n)
    if n == 0:
        return ProportionCI(k, n, float("nan"), float("nan"), float("nan"), level)
    z = float(sps.norm.ppf(1.0 - (1.0 - level) / 2.0))
    p = k / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2.0 * n)) / denom
    half = z * np.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n)) / denom
    lower = 0.0 if k == 0 else float(min(p, max(0.0, centre - half)))  # exact at the ends (no rounding past p)
    upper = 1.0 if k == n else float(max(p, min(1.0, centre + half)))
    return ProportionCI(k, n, p, lower, upper, level)


@dataclasses.dataclass(frozen=True)
class VarianceComponents:
    """One-way random-effects variance components of a number over groups.

    Attributes
    ----------
    between : float
        Between-group variance (twin-to-twin), truncated at 0.
    within : float
        Within-group variance (split-to-split within a twin): the within mean square.
    between_raw : float
        The between-group estimate before truncation (may be negative).
    ms_between, ms_within : float
        Mean squares of the analysis of variance.
    n0 : float
        Effective group size ``(N - sum n_i^2 / N) / (k - 1)`` (the common size when balanced).
    n_groups, n_obs : int
        Groups and observations used (finite values, groups of at least 2).
    note : str
        Why components are NaN, or which groups were left out.
    """

    between: float
    within: float
    between_raw: float
    ms_between: float
    ms_within: float
    n0: float
    n_groups: int
    n_obs: int
    note: str = ""

    @property
    def total(self) -> float:
        """``between + within`` (the variance of one replicate's number)."""
        return self.between + self.within

    @property
    def share_between(self) -> float:
        """Share of the total variance that is between groups (NaN when the total is 0 or NaN)."""
        t = self.total
        return float(self.between / t) if np.isfinite(t) and t > 0 else float("nan")


def variance_components(values, groups) -> VarianceComponents:
    """One-way random-effects ANOVA estimators of the between- and within-group variances.

    Parameters
    ----------
    values : array-like of float, shape (n,)
        The number of each replicate (NaN or infinite values are left out).
    groups : array-like, shape (n,)
        Each replicate's group (the twin seed). Groups with fewer than 2 finite
        values carry no within-group information and are left out (named in ``note``).

    Returns
    -------
    VarianceComponents
        ``within = MSW``, ``between_raw = (MSB - MSW) / n0``, ``between = max(0, between_raw)``;
        all NaN (with a note) when fewer than 2 groups of at least 2 values remain.

    Examples
    --------
    >>> vc = variance_components([1.0, 2.0, 3.0, 5.0, 6.0, 7.0], ["a", "a", "a", "b", "b", "b"])
    >>> vc.within, round(vc.between, 4), vc.n0
    (1.0, 7.6667, 3.0)
    >>> vc = variance_components([1.0, 1.1, 1.0, 1.1], [1, 1, 2, 2])   # equal means: a negative estimate
    >>> round(vc.between_raw, 4), vc.between
    (-0.0025, 0.0)
    """
    y = np.asarray(values, dtype=float)
    g = np.asarray(groups)
    if y.ndim != 1 or g.shape != y.shape:
        raise ValueError(f"values and groups must be 1-d of the same length, got shapes {y.shape} and {g.shape}")
    frame = pd.DataFrame({"y": y, "g": g})[np.isfinite(y)]
    sizes = frame.groupby("g", sort=True)["y"].size()
    small = sizes.index[sizes < 2].tolist()
    frame = frame[frame["g"].isin(sizes.index[sizes >= 2])]
    note = f"groups with fewer than 2 values left out: {', '.join(map(str, small))}" if small else ""
    k, n = int(frame["g"].nunique()), int(len(frame))
    if k < 2:
        nan = float("nan")
        why = f"fewer than 2 groups with at least 2 values ({k})" + (f"; {note}" if note else "")
        return VarianceComponents(nan, nan, nan, nan, nan, nan, k, n, why)
    by = frame.groupby("g", sort=True)["y"]
    n_i, mean_i = by.size().to_numpy(float), by.mean().to_numpy(float)
    grand = float(frame["y"].mean())
    ss_between = float(np.sum(n_i * (mean_i - grand) ** 2))
    ss_within = float(np.sum((frame["y"] - by.transform("mean")) ** 2))
    ms_between, ms_within = ss_between / (k - 1), ss_within / (n - k)
    n0 = (n - float(np.sum(n_i ** 2)) / n) / (k - 1)
    raw = (ms_between - ms_within) / n0
    return VarianceComponents(max(0.0, float(raw)), float(ms_within), float(raw), float(ms_between),
                              float(ms_within), float(n0), k, n, note)
