"""Figure of Grad-CAM attention maps overlaid on tumour boxes (A19)."""

from __future__ import annotations

__all__ = ["plot_attention"]

import numpy as np


def plot_attention(maps, labels, *, title: str = "Grad-CAM attention, last convolutional stage"):
    """One column per instance: the box in grey and the attention map as a translucent overlay.

    Parameters
    ----------
    maps : list of AttentionMap
        From :func:`npc_lib.runners.attention.attention_maps`.
    labels : list of str
        Column titles (e.g. "high risk" / "low risk"), same length as ``maps``.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    if len(maps) == 0 or len(maps) != len(labels):
        raise ValueError(f"maps, labels: need the same non-zero length, got {len(maps)} and {len(labels)}")
    fig = make_subplots(rows=1, cols=len(maps), subplot_titles=list(labels), horizontal_spacing=0.02)
    for c, m in enumerate(maps, start=1):
        img = np.asarray(m.image).T
        lo, hi = np.percentile(img, [1, 99])
        fig.add_trace(go.Heatmap(z=img, colorscale="gray", zmin=lo, zmax=hi, showscale=False, hoverinfo="skip"),
                      row=1, col=c)
        fig.add_trace(go.Heatmap(z=np.asarray(m.cam).T, colorscale="Jet", zmin=0, zmax=1, opacity=0.4,
                                 showscale=c == len(maps), colorbar=dict(title="attention", len=0.8),
                                 hovertemplate="attention %{z:.2f}<extra></extra>"), row=1, col=c)
        fig.update_xaxes(showticklabels=False, row=1, col=c)
        fig.update_yaxes(showticklabels=False, autorange="reversed", scaleanchor=f"x{'' if c == 1 else c}",
                         row=1, col=c)
    fig.update_layout(title=title, height=320, margin=dict(l=10, r=10, t=70, b=10))
    fig.update_annotations(font_size=10)
    return fig
