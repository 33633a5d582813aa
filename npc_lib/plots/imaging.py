"""Figure of the MR preprocessing chapter (A3): before/after per scanner."""

from __future__ import annotations

__all__ = ["plot_before_after"]

import numpy as np

_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def _range(images) -> tuple[float, float]:
    vals = np.concatenate([np.ravel(im) for im in images])
    lo, hi = np.percentile(vals, [0.5, 99.5])
    return float(lo), float(hi if hi > lo else lo + 1.0)


def plot_before_after(view: dict, *, title: str | None = None):
    """Grid of raw and preprocessed slices per scanner, with foreground histograms.

    Parameters
    ----------
    view : dict
        From :func:`npc_lib.imaging.views.before_after_by_scanner`.
    title : str, optional
        Figure title.

    Returns
    -------
    plotly.graph_objects.Figure
        One row per scanner: raw middle tumour slice (axes in mm, so the
        fields of view differ), the slice resampled to the common spacing and
        standardised, and the network's input box. Last row: foreground
        histograms of all scanners overlaid before and after standardisation,
        and the between-scanner spread of foreground percentiles
        (:func:`npc_lib.imaging.views.landmark_spread`). Grey levels are shared
        by all scanners within a column, so intensity differences show.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from npc_lib.imaging.views import landmark_spread

    scanners = list(view.get("scanners", []))
    panels = view.get("panels", {})
    if not scanners or any(sc not in panels for sc in scanners):
        raise ValueError("view: no scanner panels to plot")
    seq = view.get("sequence", "")
    n = len(scanners)
    titles = []
    for sc in scanners:
        p = panels[sc]
        titles += [
            f"scanner {sc} raw ({p['raw_spacing'][0]:.2g} mm)",
            f"resampled + standardised ({p['processed_spacing'][0]:.2g} mm)",
            "network input box",
        ]
    titles += ["foreground histogram, raw", "foreground histogram, standardised", "between-scanner spread"]
    fig = make_subplots(
        rows=n + 1, cols=3, subplot_titles=titles, horizontal_spacing=0.07, vertical_spacing=0.06,
        row_heights=[1.0] * n + [0.9],
    )
    ranges = {
        "raw": _range([panels[sc]["raw"] for sc in scanners]),
        "processed": _range([panels[sc]["processed"] for sc in scanners]),
    }
    for r, sc in enumerate(scanners, start=1):
        p = panels[sc]
        for c, (key, spacing, rng_key) in enumerate(
            (("raw", p["raw_spacing"], "raw"), ("processed", p["processed_spacing"], "processed"),
             ("box", None, "processed")), start=1,
        ):
            img = np.asarray(p[key], dtype=float).T  # rows = y, columns = x
            if spacing is None:  # the box: pixel units
                x, y = np.arange(img.shape[1]), np.arange(img.shape[0])
                unit = "px"
            else:
                x, y = np.arange(img.shape[1]) * spacing[0], np.arange(img.shape[0]) * spacing[1]
                unit = "mm"
            lo, hi = ranges[rng_key]
            fig.add_trace(
                go.Heatmap(
                    z=img, x=x, y=y, colorscale="gray", zmin=lo, zmax=hi, showscale=False,
                    hovertemplate=f"x %{{x:.0f}} {unit}<br>y %{{y:.0f}} {unit}<br>%{{z:.1f}}<extra>{sc}</extra>",
                ),
                row=r, col=c,
            )
            anchor = fig.get_subplot(r, c).xaxis.plotly_name.replace("axis", "")
            fig.update_xaxes(showticklabels=False, row=r, col=c)
            fig.update_yaxes(showticklabels=False, scaleanchor=anchor, autorange="reversed", row=r, col=c)

    for c, stage in enumerate(("raw", "standardised"), start=1):
        hist = view["histograms"][stage]
        edges = np.asarray(hist["edges"], dtype=float)
        mid = (edges[:-1] + edges[1:]) / 2
        for k, sc in enumerate(scanners):
            fig.add_trace(
                go.Scatter(
                    x=mid, y=hist["density"][sc], mode="lines", name=f"scanner {sc}", legendgroup=sc,
                    showlegend=c == 1, line=dict(color=_COLOURS[k % len(_COLOURS)], width=2),
                ),
                row=n + 1, col=c,
            )
        fig.update_xaxes(title_text="intensity" if stage == "raw" else "standard scale", row=n + 1, col=c)
        fig.update_yaxes(title_text="density" if c == 1 else None, row=n + 1, col=c)

    spread = landmark_spread(view)
    labels = [f"P{p:g}" for p in spread.index]
    for stage, colour in (("raw", "#7f7f7f"), ("standardised", "#17becf")):
        fig.add_trace(
            go.Bar(x=labels, y=spread[stage], name=stage, marker_color=colour, legendgroup=f"spread-{stage}"),
            row=n + 1, col=3,
        )
    fig.update_yaxes(title_text="SD across scanners / P5-P95 width", row=n + 1, col=3)
    fig.update_layout(
        title=title or f"{seq}: bilinear resampling and histogram standardisation, per scanner",
        height=230 * n + 300, width=900, barmode="group", margin=dict(l=40, r=20, t=80, b=40),
        legend=dict(orientation="h", y=-0.06),
    )
    fig.update_annotations(font_size=10)
    return fig
