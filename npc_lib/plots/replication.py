"""Distribution of numbers over the replicates of a study, beside the paper's value and 95% CI.

One row per number: every replicate's value as a point over a box (median,
quartiles), and the paper's value as a diamond with its 95% CI as a bar (the
diamond alone where the paper printed no interval). Numbers on one common
axis: plot C-indices together, hazard ratios or percentages separately.
"""

from __future__ import annotations

__all__ = ["plot_replicate_distribution"]

from typing import Mapping, Sequence

import numpy as np

_OURS = "#1f77b4"
_PAPER = "#d62728"


def _check_values(values: Mapping[str, Sequence[float]]) -> dict[str, np.ndarray]:
    if not isinstance(values, Mapping) or not values:
        raise ValueError("values must be a non-empty mapping of label -> replicate values")
    out = {str(k): np.asarray(v, dtype=float).ravel() for k, v in values.items()}
    return {k: v[np.isfinite(v)] for k, v in out.items()}


def plot_replicate_distribution(values: Mapping[str, Sequence[float]],
                                paper: Mapping[str, tuple[float, float, float]] | None = None,
                                *, title: str = "", x_title: str = ""):
    """Box and points of each number over the replicates, the paper's value and CI beside.

    Parameters
    ----------
    values : mapping
        ``{label: values over the replicates}`` (NaN left out; a label without
        finite values keeps its row, empty).
    paper : mapping, optional
        ``{label: (value, lower, upper)}``; NaN bounds: no interval printed.
    title, x_title : str

    Returns
    -------
    plotly.graph_objects.Figure
    """
    import plotly.graph_objects as go

    vals = _check_values(values)
    labels = list(vals)
    fig = go.Figure()
    for i, label in enumerate(labels):
        fig.add_trace(go.Box(x=vals[label], y=[label] * len(vals[label]), name="replicates", orientation="h",
                             boxpoints="all", jitter=0.4, pointpos=0, marker_color=_OURS, showlegend=i == 0,
                             legendgroup="replicates",
                             hovertemplate="%{x:.3f}<extra>" + label.replace("%", "%%") + "</extra>"))
    ref = {k: v for k, v in (paper or {}).items() if k in vals and np.isfinite(v[0])}
    if ref:
        x = np.array([v[0] for v in ref.values()], dtype=float)
        lo = np.array([v[1] for v in ref.values()], dtype=float)
        hi = np.array([v[2] for v in ref.values()], dtype=float)
        has_ci = np.isfinite(lo) & np.isfinite(hi)
        fig.add_trace(go.Scatter(
            x=x, y=list(ref), mode="markers", name="paper (95% CI)", marker=dict(symbol="diamond", size=11,
                                                                                 color=_PAPER),
            error_x=dict(type="data", symmetric=False, array=np.where(has_ci, hi - x, 0.0),
                         arrayminus=np.where(has_ci, x - lo, 0.0), color=_PAPER),
            hovertemplate="paper %{x:.3f}<extra></extra>"))
    fig.update_layout(title=title, xaxis_title=x_title, template="plotly_white", boxmode="overlay",
                      height=120 + 60 * len(labels), margin=dict(l=20, r=20, t=60, b=40),
                      yaxis=dict(categoryorder="array", categoryarray=labels[::-1], automargin=True))
    return fig
