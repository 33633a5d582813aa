"""Risk-group cut-off chosen on the training cohort and applied unchanged elsewhere.

The paper splits patients into high- and low-risk groups at "the threshold
identified in the training cohort" (0.398, 180 nomogram points) and applies
that same threshold to the test cohort. :class:`RiskCutoff` does exactly
that: :meth:`RiskCutoff.fit` looks only at training data; :meth:`RiskCutoff.predict`
applies the stored number to any risk scores.

Rules
-----
``"maxstat"`` (default)
    Maximally selected log-rank statistic: every distinct training risk
    value ``c`` is a candidate, patients with ``risk > c`` are high risk, and
    candidates leaving either group with fewer than ``min_group`` of the
    patients are skipped. The cut-off is the candidate with the largest
    two-group log-rank chi-square (the smallest such ``c`` on exact ties).
    The p-value of the chosen split is optimistic (selection); report the
    test-cohort log-rank p instead.
``"median"``
    ``c = median(risk)``; high risk is *strictly* above the median (as R
    ``as.integer(lp > median(lp))``).

Risk convention: higher risk = worse; ``predict`` returns 1 for high risk.

References
----------
Lausen B, Schumacher M. Maximally selected rank statistics. Biometrics
1992;48:73-85 (R package ``maxstat``). Hothorn T, Lausen B. On the exact
distribution of maximally selected rank statistics. CSDA 2003;43:121-137.
"""

from __future__ import annotations

__all__ = ["CUTOFF_METHODS", "RiskCutoff", "logrank_statistics"]

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._validation import check_marker, check_survival

CUTOFF_METHODS = ("maxstat", "median")


def logrank_statistics(time, event, risk, cutoffs) -> np.ndarray:
    """Two-group log-rank chi-square of ``risk > c`` vs ``risk <= c`` for every ``c`` in ``cutoffs``.

    Vectorised over cut-offs (``(subjects x cut-offs)`` arrays, in chunks).
    A cut-off leaving one group empty gives NaN.

    Returns
    -------
    numpy.ndarray, shape (len(cutoffs),)

    Examples
    --------
    >>> logrank_statistics([1, 2, 3, 4, 5, 6], [1, 1, 1, 1, 1, 0],
    ...                    [6, 5, 4, 3, 2, 1], [3.5]).round(4).tolist()
    [5.0517]
    """
    time, event = check_survival(time, event)
    risk = check_marker(risk, time.size, "risk", allow_constant=True)
    cutoffs = np.atleast_1d(np.asarray(cutoffs, dtype=float))
    by_time = np.argsort(time, kind="stable")
    t_sorted = time[by_time]
    et, starts = np.unique(t_sorted, return_index=True)
    n_k = (time.size - starts).astype(float)                     # at risk at each distinct time
    d_k = np.add.reduceat(event[by_time].astype(float), starts)
    keep = d_k > 0
    n_k, d_k = n_k[keep], d_k[keep]
    with np.errstate(invalid="ignore", divide="ignore"):
        c_k = np.where(n_k > 1, d_k * (n_k - d_k) / (n_k - 1), 0.0)
    r_by_time = risk[by_time]
    ev_by_time = event[by_time].astype(float)
    out = np.full(cutoffs.size, np.nan)
    chunk = max(1, int(4e6 // time.size))
    for s in range(0, cutoffs.size, chunk):
        cut = cutoffs[s:s + chunk]
        high = (r_by_time[:, None] > cut[None, :]).astype(float)                 # (n, m)
        at_time = np.add.reduceat(high, starts, axis=0)                          # (K_all, m)
        n_high = np.cumsum(at_time[::-1], axis=0)[::-1][keep]                    # at risk, high group
        d_high = np.add.reduceat(high * ev_by_time[:, None], starts, axis=0)[keep]
        share = n_high / n_k[:, None]
        o_minus_e = (d_high - d_k[:, None] * share).sum(axis=0)
        var = (c_k[:, None] * share * (1.0 - share)).sum(axis=0)
        m_high = high.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[s:s + chunk] = np.where((m_high > 0) & (m_high < time.size) & (var > 0),
                                        o_minus_e ** 2 / var, np.nan)
    return out


def _between(risk: np.ndarray, c: float) -> float:
    """Midway between the largest value ``<= c`` and the smallest ``> c`` (``c`` when none is above)."""
    above = risk[risk > c]
    return float((risk[risk <= c].max() + above.min()) / 2) if above.size and (risk <= c).any() else c


@dataclass
class RiskCutoff:
    """A risk threshold fitted on training data; ``predict`` gives 1 = high risk (``risk > cutoff``).

    Attributes
    ----------
    cutoff : float
    method : str
    min_group : float
    statistic : float
        Log-rank chi-square of the training split (NaN for ``"median"``
        unless computable).
    candidates : pandas.DataFrame or None
        ``cutoff, share_high, chi2`` of every candidate (``"maxstat"``).
    """

    cutoff: float
    method: str
    min_group: float
    statistic: float
    candidates: pd.DataFrame | None = None

    @classmethod
    def fit(cls, time, event, risk, method: str = "maxstat", min_group: float = 0.2,
            midpoint: bool = False) -> "RiskCutoff":
        """Choose the cut-off on (training) data; see the module docstring for the rules.

        Parameters
        ----------
        time, event : array-like, shape (n,)
        risk : array-like, shape (n,)
            Higher = worse (e.g. nomogram total points or a linear predictor).
        method : {"maxstat", "median"}
        min_group : float in [0, 0.5)
            Minimum share of patients in each group (``"maxstat"``).
        midpoint : bool
            Place the cut-off midway between the two training values it
            separates (the training split is the same): a score that equals a
            training patient's up to rounding (e.g. recomputed from a model
            bundle) then falls on the same side as that patient's.

        Examples
        --------
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> risk = rng.normal(size=300)
        >>> time = rng.exponential(np.exp(-2.0 * (risk > 0.5)))
        >>> cut = RiskCutoff.fit(time, np.ones(300), risk)
        >>> bool(0.2 < cut.cutoff < 0.8), int(cut.predict([0.0, 2.0]).sum())
        (True, 1)
        """
        if method not in CUTOFF_METHODS:
            raise ValueError(f"method must be one of {CUTOFF_METHODS}, got {method!r}")
        if not (0.0 <= float(min_group) < 0.5):
            raise ValueError(f"min_group must be in [0, 0.5), got {min_group!r}")
        time, event = check_survival(time, event)
        risk = check_marker(risk, time.size, "risk", allow_constant=True)
        n = time.size
        if method == "median":
            c = float(np.median(risk))
            stat = logrank_statistics(time, event, risk, [c])[0]
            return cls(cutoff=_between(risk, c) if midpoint else c, method=method, min_group=float(min_group),
                       statistic=float(stat))
        u = np.unique(risk)[:-1]
        if u.size == 0:
            raise ValueError("risk is constant: no cut-off possible")
        share_high = 1.0 - np.searchsorted(np.sort(risk), u, side="right") / n
        ok = (share_high >= min_group) & (1.0 - share_high >= min_group)
        if not ok.any():
            raise ValueError(f"no cut-off leaves at least min_group={min_group} of patients in each group")
        chi2 = np.full(u.size, np.nan)
        chi2[ok] = logrank_statistics(time, event, risk, u[ok])
        if np.all(np.isnan(chi2)):
            raise ValueError("log-rank statistic undefined for every candidate cut-off")
        best = int(np.nanargmax(chi2))
        cands = pd.DataFrame({"cutoff": u, "share_high": share_high, "chi2": chi2})
        return cls(cutoff=_between(risk, float(u[best])) if midpoint else float(u[best]), method=method,
                   min_group=float(min_group),
                   statistic=float(chi2[best]), candidates=cands[ok].reset_index(drop=True))

    def predict(self, risk) -> np.ndarray:
        """1 where ``risk > cutoff`` (high risk), else 0; int array of the shape of ``risk``."""
        try:
            r = np.asarray(risk, dtype=float)
        except (TypeError, ValueError):
            raise ValueError("risk must be numeric") from None
        if np.any(np.isnan(r)):
            raise ValueError("risk contains NaN")
        return (r > self.cutoff).astype(int)
