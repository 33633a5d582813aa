"""Figures of the cohort chapter: example slices per sequence and scanner."""

from __future__ import annotations

__all__ = ["plot_example_slices"]

import numpy as np


def plot_example_slices(examples, *, title: str = "Example axial slices (tumour outline in red)"):
    """A grid of slices: one row per scanner/patient, one column per sequence.

    Parameters
    ----------
    examples : list of ExampleSlice
        From :func:`npc_lib.cohort.examples.example_slices`.

    Returns
    -------
    plotly.graph_objects.Figure
        Heatmaps in grey with the tumour contour overlaid; axes in mm so the
        scanners' different voxel sizes show as different fields of view.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    if not examples:
        raise ValueError("examples: nothing to plot")
    rows = list(dict.fromkeys((e.scanner, e.patient_id) for e in examples))
    cols = list(dict.fromkeys(e.sequence for e in examples))
    fig = make_subplots(
        rows=len(rows), cols=len(cols), horizontal_spacing=0.02, vertical_spacing=0.04,
        subplot_titles=[f"{seq} — scanner {sc} ({pid})" for sc, pid in rows for seq in cols],
    )
    for e in examples:
        r = rows.index((e.scanner, e.patient_id)) + 1
        c = cols.index(e.sequence) + 1
        img = e.image.T  # rows = y, columns = x
        lo, hi = np.percentile(img, [1, 99.5])
        x = np.arange(img.shape[1]) * e.spacing[0]
        y = np.arange(img.shape[0]) * e.spacing[1]
        fig.add_trace(
            go.Heatmap(z=img, x=x, y=y, colorscale="gray", zmin=lo, zmax=hi, showscale=False,
                       hovertemplate="x %{x:.0f} mm<br>y %{y:.0f} mm<br>%{z:.0f}<extra></extra>"),
            row=r, col=c,
        )
        fig.add_trace(
            go.Contour(z=e.roi.T.astype(float), x=x, y=y, showscale=False, contours=dict(start=0.5, end=0.5, size=1,
                       coloring="lines"), colorscale=[[0, "red"], [1, "red"]], line=dict(width=1.5), hoverinfo="skip"),
            row=r, col=c,
        )
        fig.update_xaxes(showticklabels=False, row=r, col=c)
        fig.update_yaxes(showticklabels=False, scaleanchor=f"x{'' if (r - 1) * len(cols) + c == 1 else (r - 1) * len(cols) + c}", autorange="reversed", row=r, col=c)
    fig.update_layout(title=title, height=230 * len(rows) + 80, autosize=True, margin=dict(l=10, r=10, t=70, b=10))
    fig.update_annotations(font_size=10)
    return fig
