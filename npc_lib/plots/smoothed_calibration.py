"""Smoothed calibration curves (Austin, Harrell & van Klaveren 2020): observed vs predicted risk at t."""

from __future__ import annotations

__all__ = ["plot_smoothed_calibration"]

from typing import Mapping

import numpy as np

_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def plot_smoothed_calibration(curves: Mapping[str, object], *, title: str = "Smoothed calibration",
                              x_label: str = "Predicted risk of an event by t",
                              y_label: str = "Observed risk (smoothed)"):
    """One line per curve: the smoothed observed risk against the predicted risk, and the diagonal.

    Parameters
    ----------
    curves : mapping
        ``{label: CalibrationMetrics}`` (:func:`npc_lib.stats.calibration_metrics`;
        ``.predicted`` sorted, ``.observed`` its smoothed observed risk, ``.ici``).
    title, x_label, y_label : str

    Returns
    -------
    plotly.graph_objects.Figure
    """
    import plotly.graph_objects as go

    if not curves:
        raise ValueError("curves: nothing to plot")
    fig = go.Figure()
    hi = 0.0
    for k, (label, c) in enumerate(curves.items()):
        for name in ("predicted", "observed", "ici"):
            if not hasattr(c, name):
                raise ValueError(f"curves[{label!r}] must be a CalibrationMetrics; it lacks {name!r}")
        x, y = np.asarray(c.predicted, dtype=float), np.asarray(c.observed, dtype=float)
        hi = max(hi, float(np.nanmax(x)), float(np.nanmax(y)))
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", line=dict(color=_COLOURS[k % len(_COLOURS)], width=2),
                                 name=f"{label} (ICI {c.ici:.3f})"))
        fig.add_trace(go.Scatter(x=x, y=np.full(x.size, -0.02 * (k + 1)), mode="markers", showlegend=False,
                                 marker=dict(symbol="line-ns-open", size=6, color=_COLOURS[k % len(_COLOURS)]),
                                 hoverinfo="skip"))
    hi = min(1.0, hi * 1.05 + 0.02)
    fig.add_trace(go.Scatter(x=[0, hi], y=[0, hi], mode="lines", line=dict(color="grey", dash="dash"),
                             name="perfect calibration"))
    fig.update_layout(title=title, xaxis_title=x_label, yaxis_title=y_label, template="plotly_white",
                      xaxis=dict(range=[0, hi]), yaxis=dict(range=[-0.02 * (len(curves) + 1), hi]),
                      legend=dict(orientation="h", y=-0.2), height=460)
    return fig
