"""Scaled Schoenfeld residual plots: is a hazard ratio constant over time?

One panel per covariate (R's ``plot(cox.zph(fit))``): the scaled residuals
``beta_j + r_ij`` at each event time, a lowess smooth of them (an estimate of
the time-varying log hazard ratio ``beta_j(t)``) and the fitted constant
``beta_j``. Under proportional hazards the smooth stays flat around the line.
"""

from __future__ import annotations

__all__ = ["plot_scaled_schoenfeld", "smooth_residuals"]

from typing import Mapping

import numpy as np

from npc_lib.report import format_p


def _check_residuals(residuals) -> None:
    for name in ("x", "y", "beta"):
        if not hasattr(residuals, name):
            raise ValueError(f"residuals must be a ScaledSchoenfeld (npc_lib.stats.scaled_schoenfeld_residuals); "
                             f"it lacks {name!r}")
    if len(residuals.x) != len(residuals.y):
        raise ValueError(f"residuals: x has {len(residuals.x)} values, y {len(residuals.y)} rows")


def smooth_residuals(x, y, frac: float = 0.6, n_grid: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """A lowess smooth of ``y`` on ``x`` evaluated on ``n_grid`` points (statsmodels' lowess).

    Examples
    --------
    >>> gx, gy = smooth_residuals(np.linspace(0, 1, 40), np.full(40, 2.0), n_grid=5)
    >>> np.allclose(gy, 2.0), gx.tolist()
    (True, [0.0, 0.25, 0.5, 0.75, 1.0])
    """
    from statsmodels.nonparametric.smoothers_lowess import lowess

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or x.size < 3:
        raise ValueError("x and y must be 1-D of equal length >= 3")
    grid = np.linspace(x.min(), x.max(), int(n_grid))
    return grid, lowess(y, x, frac=float(frac), xvals=grid)


def plot_scaled_schoenfeld(residuals, *, test=None, labels: Mapping[str, str] | None = None,
                           title: str = "Scaled Schoenfeld residuals", cols: int = 3):
    """One panel per covariate: residuals, their lowess smooth and the fitted log hazard ratio.

    Parameters
    ----------
    residuals : ScaledSchoenfeld
        :func:`npc_lib.stats.scaled_schoenfeld_residuals`.
    test : pandas.DataFrame, optional
        :func:`npc_lib.stats.proportional_hazards_test` of the same fit: each
        panel's title then gives its p-value.
    labels : mapping, optional
        Covariate -> display label.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    _check_residuals(residuals)
    covs = list(residuals.y.columns)
    if not covs:
        raise ValueError("residuals: no covariate")
    labels = dict(labels or {})
    cols = max(1, min(int(cols), len(covs)))
    rows = -(-len(covs) // cols)
    names = [f"{labels.get(c, c)}" + (f" (p {format_p(test.loc[c, 'p'])})" if test is not None and c in test.index
                                       else "") for c in covs]
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=names, horizontal_spacing=0.08,
                        vertical_spacing=0.18 if rows > 1 else 0.1)
    x = np.asarray(residuals.x, dtype=float)
    for k, c in enumerate(covs):
        r, col = k // cols + 1, k % cols + 1
        y = residuals.y[c].to_numpy(dtype=float)
        fig.add_trace(go.Scatter(x=x, y=y, mode="markers", marker=dict(size=4, color="rgba(31,119,180,0.45)"),
                                 name="residual", showlegend=k == 0, legendgroup="r"), row=r, col=col)
        if x.size >= 3:
            gx, gy = smooth_residuals(x, y)
            fig.add_trace(go.Scatter(x=gx, y=gy, mode="lines", line=dict(color="#d62728", width=2),
                                     name="lowess smooth: beta(t)", showlegend=k == 0, legendgroup="s"),
                          row=r, col=col)
        b = float(residuals.beta[c])
        fig.add_trace(go.Scatter(x=[x.min(), x.max()], y=[b, b], mode="lines",
                                 line=dict(color="black", dash="dash", width=1), name="fitted beta (constant)",
                                 showlegend=k == 0, legendgroup="b"), row=r, col=col)
    x_title = "1 - KM(t)" if getattr(residuals, "transform", "km") == "km" else "f(time)"
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text="beta(t)", col=1)
    fig.update_layout(title=title, height=300 * rows + 80, template="plotly_white",
                      legend=dict(orientation="h", y=-0.12 if rows == 1 else -0.06))
    return fig
