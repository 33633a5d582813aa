"""Points nomogram of a Cox model, scaled as R's ``rms::nomogram``.

Construction (rms 6.5, ``nomogram(f, lp=TRUE, fun=..., maxscale=100, nint=10)``):

1. Axis values per predictor. ``rms::datadist`` keeps the sorted distinct
   values of a numeric variable with at most 10 of them (binary dummies,
   ECOG, Karnofsky in steps of 10); those are drawn as discrete axes. For
   other variables the axis is ``pretty(c(Low, High), n = 10)`` over the
   *full* observed range (``type.range = "full"``), not the 5 %/95 %
   ``Low:prediction``/``High:prediction`` display limits that datadist also
   reports (:func:`datadist` reproduces all seven limits).
2. ``sc = 100 / max_j (max - min of beta_j * x_j over its axis)``: the
   predictor with the widest ``beta*x`` range spans 100 points.
3. Points of predictor j: ``sc * (beta_j x_j - min beta_j x_j)``; total
   points ``= sc * (lp_c - intercept)`` with ``lp_c = X'beta - center``,
   ``center = mean(X'beta)`` over the fitting data (rms ``cph``) and
   ``intercept = -center + sum_j min beta_j x_j``.
4. Survival at time t from total points: ``S(t) = S0(t)^exp(lp_c)`` with the
   Breslow/Efron baseline of :meth:`CoxResult.baseline_survival` (rms
   ``Survival(f)``, a step function at the largest event time ``<= t``).
5. Axes for drawing: total-points ticks ``pretty(c(0, max(100, sc *
   max(lp.at - intercept))), 10)``; linear-predictor ticks ``lp.at =
   pretty(range(lp_c), 10)``; survival ticks at ``fun_at`` located by linear
   interpolation of the inverse of ``S(t | lp)`` on 1000 equally spaced
   ``lp`` values over ``lp.at`` (R ``approx(..., ties = mean)``), ticks
   outside that range dropped.

Risk convention: more points = higher linear predictor = higher risk = lower
survival.

References
----------
Harrell FE. Regression Modeling Strategies, 2nd ed. Springer 2015 (rms
``datadist``, ``nomogram``). Iasonos A et al. How to build and interpret a
nomogram for cancer prognosis. J Clin Oncol 2008;26:1364-1370.
"""

from __future__ import annotations

__all__ = ["DEFAULT_FUN_AT", "DataDist", "Nomogram", "datadist", "r_pretty"]

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .cox import CoxResult, design_matrix

DEFAULT_FUN_AT = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
_LIMIT_ROWS = ["Low:effect", "Adjust to", "High:effect", "Low:prediction", "High:prediction", "Low", "High"]


def _check_covariate_frame(data, covariates: Sequence[str]) -> np.ndarray:
    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    X = design_matrix(data, covariates)
    if X.shape[0] < 2:
        raise ValueError("data must have at least 2 rows")
    return X


def r_pretty(lo: float, hi: float, n: int = 5) -> np.ndarray:
    """R's ``pretty(c(lo, hi), n)``: about ``n + 1`` round, equally spaced values covering [lo, hi].

    Port of ``R_pretty`` as in R 4.2 (defaults ``min.n = n %/% 3``,
    ``shrink.sml = 0.75``, ``high.u.bias = 1.5``, ``u5.bias = 0.5 + 1.5 *
    high.u.bias``, ``eps.correct = 0``). Later R versions treat ranges
    starting or ending exactly at 0 with fewer than ``min.n`` intervals
    slightly differently; ordinary axis ranges are unaffected.

    Examples
    --------
    >>> r_pretty(39, 82, 10).tolist()
    [35.0, 40.0, 45.0, 50.0, 55.0, 60.0, 65.0, 70.0, 75.0, 80.0, 85.0]
    >>> r_pretty(0, 1.3).round(10).tolist()
    [0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4]
    """
    lo, hi = float(min(lo, hi)), float(max(lo, hi))
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError("r_pretty needs finite limits")
    ndiv, min_n = int(n), int(n) // 3
    h, h5 = 1.5, 0.5 + 1.5 * 1.5
    eps = np.finfo(float).eps
    dx = hi - lo
    if dx == 0 and hi == 0:
        cell, i_small = 1.0, True
    else:
        cell = max(abs(lo), abs(hi))
        U = 1 + (1 / (1 + h) if h5 >= 1.5 * h + 0.5 else 1.5 / (1 + h5))
        U *= max(1, ndiv) * eps
        i_small = dx < cell * U * 3
    if i_small:
        if cell > 10:
            cell = 9 + cell / 10
        cell *= 0.75
        if min_n > 1:
            cell /= min_n
    else:
        cell = dx
        if ndiv > 1:
            cell /= ndiv
    cell = max(cell, 2.0 ** -20 * np.finfo(float).tiny)
    base = 10.0 ** math.floor(math.log10(cell))
    unit = base
    if 2 * base - cell < h * (cell - unit):
        unit = 2 * base
        if 5 * base - cell < h5 * (cell - unit):
            unit = 5 * base
            if 10 * base - cell < h * (cell - unit):
                unit = 10 * base
    rounding_eps = 1e-10
    ns = math.floor(lo / unit + rounding_eps)
    nu = math.ceil(hi / unit - rounding_eps)
    while ns * unit > lo + rounding_eps * unit:
        ns -= 1
    while nu * unit < hi - rounding_eps * unit:
        nu += 1
    k = int(0.5 + nu - ns)
    if k < min_n:
        k = min_n - k
        if ns >= 0:
            nu += k // 2
            ns -= k // 2 + k % 2
        else:
            ns -= k // 2
            nu += k // 2 + k % 2
        ndiv = min_n
    else:
        ndiv = k
    s = np.linspace(ns * unit, nu * unit, ndiv + 1)
    if ndiv:
        delta = (nu * unit - ns * unit) / ndiv
        s[np.abs(s) < 1e-14 * delta] = 0.0
    return s


def _quantile7(x: np.ndarray, q) -> np.ndarray:
    return np.quantile(x, q, method="linear")  # R's default type 7


@dataclass(frozen=True)
class DataDist:
    """``rms::datadist`` of numeric columns.

    ``limits``: DataFrame with rows ``Low:effect, Adjust to, High:effect,
    Low:prediction, High:prediction, Low, High`` and one column per
    variable. ``values``: sorted distinct values of variables with at most
    ``n_unique`` of them (``None`` otherwise): these are discrete in the
    nomogram.
    """

    limits: pd.DataFrame
    values: dict


def datadist(data: pd.DataFrame, covariates: Sequence[str] | None = None, q_display=None,
             q_effect=(0.25, 0.75), n_unique: int = 10) -> DataDist:
    """Summaries of numeric predictors as ``rms::datadist`` (quantiles of R type 7).

    ``Low/High:prediction`` are the ``q`` and ``1 - q`` quantiles with
    ``q = 10 / max(n, 200)`` (the full range for fewer than 4 distinct
    values); ``Low/High:effect`` the quartiles; ``Adjust to`` the median
    (lowest value of a binary variable, middle one of a 3-level one);
    ``Low``/``High`` the observed range.

    Examples
    --------
    >>> dd = datadist(pd.DataFrame({"age": np.arange(30., 80.), "sex": [0, 1] * 25}))
    >>> dd.limits.loc["Adjust to"].tolist(), dd.values["sex"].tolist()
    ([54.5, 0.0], [0.0, 1.0])
    """
    covariates = list(data.columns if covariates is None else covariates)
    X = _check_covariate_frame(data, covariates)
    n = X.shape[0]
    if q_display is None:
        q = 10.0 / max(n, 200)
        q_display = (q, 1.0 - q)
    limits, values = {}, {}
    for j, name in enumerate(covariates):
        y = X[:, j]
        vals = np.unique(y)
        if vals.size < 2:
            raise ValueError(f"covariate {name!r} is constant")
        r = (vals[0], vals[-1])
        lim = np.full(7, np.nan)
        lim[5:7] = r
        lim[3:5] = r if vals.size < 4 else _quantile7(y, q_display)
        if lim[3] == lim[4]:
            lim[3:5] = r
        lim[1] = vals[0] if vals.size < 3 else vals[1] if vals.size == 3 else np.median(y)
        lim[[0, 2]] = r if vals.size < 4 else _quantile7(y, q_effect)
        if lim[0] == lim[2]:
            lim[[0, 2]] = r
        limits[name] = lim
        values[name] = vals if vals.size <= n_unique else None
    return DataDist(limits=pd.DataFrame(limits, index=_LIMIT_ROWS), values=values)


def _approx_inverse(fu: np.ndarray, x: np.ndarray, at: np.ndarray) -> np.ndarray:
    """R ``approx(fu, x, xout = at, ties = mean, rule = 1)$y``: NaN outside the range."""
    ok = np.isfinite(fu)
    fu, x = fu[ok], x[ok]
    u, inv = np.unique(fu, return_inverse=True)
    xm = np.bincount(inv, weights=x) / np.bincount(inv)
    if u.size < 2:
        return np.full(at.shape, np.nan)
    return np.interp(at, u, xm, left=np.nan, right=np.nan)


@dataclass(frozen=True)
class Nomogram:
    """rms-style points nomogram of a fitted Cox model; build with :meth:`from_cox`.

    Attributes
    ----------
    covariates : tuple of str
    beta : pandas.Series
    scale : float
        ``sc``: points per unit of linear predictor.
    maxscale : float
    center : float
        Mean uncentred linear predictor over the fitting data.
    intercept : float
        Centred linear predictor at 0 total points.
    xbeta_min, xbeta_max : pandas.Series
        Range of ``beta_j x_j`` over each axis.
    axis_values : dict
        Tick values per predictor.
    discrete : dict
        Whether each axis is discrete (<= 10 distinct values).
    lp_at : numpy.ndarray
        Linear-predictor axis ticks (centred).
    datadist : DataDist
    """

    covariates: tuple
    beta: pd.Series
    scale: float
    maxscale: float
    center: float
    intercept: float
    xbeta_min: pd.Series
    xbeta_max: pd.Series
    axis_values: dict
    discrete: dict
    lp_at: np.ndarray
    nint: int
    datadist: DataDist
    model: CoxResult

    @classmethod
    def from_cox(cls, result: CoxResult, data: pd.DataFrame,
                 ranges: Mapping[str, Sequence[float]] | None = None,
                 maxscale: float = 100.0, nint: int = 10) -> "Nomogram":
        """Build the nomogram of ``result`` with axes from ``data`` (the fitting data).

        Parameters
        ----------
        result : CoxResult
        data : pandas.DataFrame
            Fitting data: sets the datadist axes and the centring.
        ranges : mapping, optional
            Covariate -> axis tick values (at least 2), replacing the
            datadist default for that covariate (as ``nomogram(f, age=...)``).
        maxscale : float
            Points of the widest predictor (100).
        nint : int
            ``pretty`` intervals for default axes (10).

        Examples
        --------
        >>> from npc_lib.stats.cox import fit_cox
        >>> d = pd.DataFrame({"t": [5, 8, 9, 12, 15, 20, 22, 30, 31, 40],
        ...                   "e": [1, 1, 1, 0, 1, 1, 0, 1, 0, 1],
        ...                   "age": [70, 65, 72, 50, 60, 45, 58, 40, 52, 48],
        ...                   "male": [1, 1, 0, 1, 0, 0, 1, 0, 1, 0]})
        >>> nom = Nomogram.from_cox(fit_cox(d, "t", "e", ["age", "male"]), d)
        >>> float(round(nom.points(d).max().max(), 6))   # widest predictor spans 100
        100.0
        >>> bool(np.allclose(nom.total_points(d), nom.points(d).sum(axis=1)))
        True
        """
        if not isinstance(result, CoxResult):
            raise ValueError(f"result must be a CoxResult, got {type(result).__name__}")
        covs = list(result.covariates)
        if not covs:
            raise ValueError("result has no covariates")
        if maxscale <= 0:
            raise ValueError("maxscale must be positive")
        X = _check_covariate_frame(data, covs)
        dd = datadist(data, covs)
        ranges = dict(ranges or {})
        unknown = [k for k in ranges if k not in covs]
        if unknown:
            raise ValueError(f"ranges names unknown covariates: {unknown}")
        beta = result.params.astype(float)
        axis_values, discrete = {}, {}
        for c in covs:
            if c in ranges:
                v = np.asarray(ranges[c], dtype=float)
                if v.ndim != 1 or v.size < 2 or not np.all(np.isfinite(v)):
                    raise ValueError(f"ranges[{c!r}] must be at least 2 finite values")
                axis_values[c], discrete[c] = v, dd.values[c] is not None
            elif dd.values[c] is not None:
                axis_values[c], discrete[c] = dd.values[c].astype(float), True
            else:
                lo, hi = dd.limits.loc["Low", c], dd.limits.loc["High", c]
                axis_values[c], discrete[c] = r_pretty(lo, hi, nint), False
        xb = {c: beta[c] * axis_values[c] for c in covs}
        xmin = pd.Series({c: float(v.min()) for c, v in xb.items()}, dtype=float)
        xmax = pd.Series({c: float(v.max()) for c, v in xb.items()}, dtype=float)
        widest = float((xmax - xmin).max())
        if widest <= 0:
            raise ValueError("all coefficients are zero: nothing to scale")
        sc = maxscale / widest
        lp = X @ beta.to_numpy()
        center = float(lp.mean())
        lp_c = lp - center
        return cls(
            covariates=tuple(covs), beta=beta, scale=float(sc), maxscale=float(maxscale),
            center=center, intercept=float(-center + xmin.sum()), xbeta_min=xmin, xbeta_max=xmax,
            axis_values=axis_values, discrete=discrete,
            lp_at=r_pretty(lp_c.min(), lp_c.max(), nint), nint=int(nint), datadist=dd, model=result,
        )

    # ------------------------------------------------------------------ scoring

    @property
    def points_per_unit(self) -> pd.Series:
        """Points per unit of each covariate, ``beta_j * sc`` (negative: points fall as x rises)."""
        return (self.beta * self.scale).rename("points_per_unit")

    def points(self, df: pd.DataFrame) -> pd.DataFrame:
        """Points of each predictor for each row of ``df``: DataFrame ``(n, p)``, index of ``df``."""
        X = design_matrix(df, self.covariates)
        P = self.scale * (X * self.beta.to_numpy() - self.xbeta_min.to_numpy())
        return pd.DataFrame(P, index=df.index, columns=list(self.covariates))

    def total_points(self, df: pd.DataFrame) -> np.ndarray:
        """Total points per row, shape ``(n,)`` (higher = worse)."""
        X = design_matrix(df, self.covariates)
        return self.scale * (X @ self.beta.to_numpy() - self.xbeta_min.sum())

    def linear_predictor(self, total_points) -> np.ndarray:
        """Centred linear predictor ``intercept + points / sc`` (as rms ``lp``)."""
        return self.intercept + np.asarray(total_points, dtype=float) / self.scale

    def survival(self, total_points, t: float) -> np.ndarray:
        """Predicted survival at time ``t`` for given total points (shape of ``total_points``).

        ``S(t) = S0(t)^exp(lp_c)`` with ``S0`` the model's Breslow/Efron
        baseline at the mean linear predictor (rms ``Survival(f)(t, lp)``).

        Examples
        --------
        >>> from npc_lib.stats.cox import fit_cox
        >>> d = pd.DataFrame({"t": [5, 8, 9, 12, 15, 20, 22, 30], "e": [1, 1, 1, 0, 1, 1, 0, 1],
        ...                   "x": [2.1, 1.5, 1.9, 0.3, 1.0, 0.2, 0.8, 0.1]})
        >>> nom = Nomogram.from_cox(fit_cox(d, "t", "e", ["x"]), d)
        >>> s = nom.survival([0, 50, 100], 10)
        >>> bool(s[0] > s[1] > s[2])          # more points, lower survival
        True
        """
        t = float(t)
        H_c = float(self.model.baseline_cumhazard([t], lp=self.center)[0])
        return np.exp(-H_c * np.exp(self.linear_predictor(total_points)))

    # ------------------------------------------------------------------ axes

    def variable_axes(self) -> dict:
        """Per predictor, a DataFrame ``value, points`` of axis ticks (for drawing)."""
        return {c: pd.DataFrame({"value": v, "points": self.scale * (self.beta[c] * v - self.xbeta_min[c])})
                for c, v in self.axis_values.items()}

    def total_points_axis(self) -> np.ndarray:
        """Total-points ticks, ``pretty(c(0, max(maxscale, sc*max(lp.at - intercept))), nint)``."""
        top = self.maxscale if len(self.covariates) == 1 else max(
            self.maxscale, self.scale * float(np.max(self.lp_at - self.intercept)))
        return r_pretty(0.0, top, self.nint)

    def lp_axis(self) -> pd.DataFrame:
        """Linear-predictor axis: ``lp`` (centred) ticks and their ``points``."""
        return pd.DataFrame({"lp": self.lp_at, "points": (self.lp_at - self.intercept) * self.scale})

    def survival_axis(self, t: float, fun_at: Sequence[float] = DEFAULT_FUN_AT) -> pd.DataFrame:
        """Survival-at-``t`` axis: ``surv`` ticks from ``fun_at`` and their ``points``.

        As rms: the inverse of ``S(t | lp)`` is interpolated on 1000 points
        over the ``lp`` axis range; ticks outside it are dropped.
        """
        fat = np.asarray(fun_at, dtype=float)
        xseq = np.linspace(self.lp_at.min(), self.lp_at.max(), 1000)
        fu = self.survival((xseq - self.intercept) * self.scale, t)
        w = _approx_inverse(fu, xseq, fat)
        keep = np.isfinite(w)
        return pd.DataFrame({"surv": fat[keep], "points": (w[keep] - self.intercept) * self.scale})
