"""Drawing of a points nomogram (Fig. 2A), laid out as R's ``rms::plot.nomogram``.

Rows from top to bottom: the *Points* scale (0 to ``maxscale``), one axis per
predictor (ticks at the nomogram's axis values, placed at their points), the
*Total Points* scale, optionally the linear predictor, and one survival axis
per time (e.g. 3- and 5-year DFS). As in rms, the total-points scale is
drawn over the same width as the points scale (``x = total * maxscale /
max(total ticks)``), so every row shares one horizontal coordinate.

The geometry comes from :class:`npc_lib.stats.nomogram.Nomogram`
(:func:`nomogram_layout` is the plotting-free part, testable on its own);
:func:`plot_nomogram` draws it with plotly and can mark one patient (points
per predictor, total points, survival), as the paper's worked example.

Risk convention: more points = higher risk = lower survival.
"""

from __future__ import annotations

__all__ = ["NomogramRow", "nomogram_inputs", "nomogram_layout", "outside_axes", "plot_nomogram"]

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from npc_lib.stats.nomogram import DEFAULT_FUN_AT, Nomogram, r_pretty

_CHAR_WIDTH = 0.85  # label width per character, in points of the 0-100 scale (about 900 px wide)
_HIGHLIGHT = "#d62728"


def _check_nomogram(nom) -> Nomogram:
    if not isinstance(nom, Nomogram):
        raise ValueError(f"nom must be a Nomogram, got {type(nom).__name__}")
    return nom


def _fmt(v: float) -> str:
    return f"{v:.4g}"


@dataclass(frozen=True)
class NomogramRow:
    """One row of the drawing: ``label``, ``kind`` (``points``, ``predictor``,
    ``total``, ``lp``, ``survival``), ``key`` (covariate name or time) and
    ``ticks``, a DataFrame ``x, value, text, labelled`` (``x`` on the shared
    0-``maxscale`` coordinate, ``labelled`` False where a label would overlap
    its left neighbour)."""

    label: str
    kind: str
    key: object
    ticks: pd.DataFrame


def _thin(x: np.ndarray, text: list[str]) -> np.ndarray:
    """Greedy left-to-right: label a tick only if it clears the previous labelled one."""
    keep = np.zeros(x.size, bool)
    order = np.argsort(x, kind="stable")
    last_right = -np.inf
    for i in order:
        half = _CHAR_WIDTH * (len(text[i]) + 1) / 2.0
        if x[i] - half >= last_right:
            keep[i] = True
            last_right = x[i] + half
    return keep


def _row(label: str, kind: str, key, x, values, text) -> NomogramRow:
    x = np.asarray(x, dtype=float)
    ticks = pd.DataFrame({"x": x, "value": np.asarray(values, dtype=float), "text": list(text)})
    ticks["labelled"] = _thin(x, list(text))
    return NomogramRow(label=label, kind=kind, key=key, ticks=ticks)


def nomogram_layout(nom: Nomogram, times: Sequence[float] = (36.0, 60.0), *,
                    time_labels: Sequence[str] | None = None, labels: Mapping[str, str] | None = None,
                    value_labels: Mapping[str, Mapping[float, str]] | None = None,
                    fun_at: Sequence[float] = DEFAULT_FUN_AT, show_lp: bool = False) -> list[NomogramRow]:
    """The rows of the nomogram drawing with their ticks (no plotting).

    Parameters
    ----------
    nom : Nomogram
    times : sequence of float
        Times of the survival axes, in the model's time unit (months: 36, 60).
    time_labels : sequence of str, optional
        Row labels of the survival axes; default ``"S(36)"``...
    labels : mapping, optional
        Covariate -> row label.
    value_labels : mapping, optional
        Covariate -> {value: tick label} for discrete axes (e.g. 0 -> "<4000").
    fun_at : sequence of float
        Survival probabilities to mark (rms ``fun.at``).
    show_lp : bool
        Add the linear-predictor axis.

    Returns
    -------
    list of NomogramRow

    Examples
    --------
    >>> from npc_lib.stats.cox import fit_cox
    >>> d = pd.DataFrame({"t": [5, 8, 9, 12, 15, 20, 22, 30, 31, 40],
    ...                   "e": [1, 1, 1, 0, 1, 1, 0, 1, 0, 1],
    ...                   "age": [70, 65, 72, 50, 60, 45, 58, 40, 52, 48],
    ...                   "male": [1, 1, 0, 1, 0, 0, 1, 0, 1, 0]})
    >>> nom = Nomogram.from_cox(fit_cox(d, "t", "e", ["age", "male"]), d)
    >>> rows = nomogram_layout(nom, times=[12], value_labels={"male": {0: "F", 1: "M"}})
    >>> [r.kind for r in rows]
    ['points', 'predictor', 'predictor', 'total', 'survival']
    >>> rows[2].ticks.text.tolist()
    ['F', 'M']
    """
    nom = _check_nomogram(nom)
    labels = dict(labels or {})
    value_labels = {k: {float(a): b for a, b in v.items()} for k, v in (value_labels or {}).items()}
    times = [float(t) for t in times]
    if time_labels is None:
        time_labels = [f"S({t:g})" for t in times]
    if len(time_labels) != len(times):
        raise ValueError(f"time_labels: {len(time_labels)} labels for {len(times)} times")
    pts = r_pretty(0.0, nom.maxscale, nom.nint)
    rows = [_row("Points", "points", None, pts, pts, [_fmt(p) for p in pts])]
    for c, axis in nom.variable_axes().items():
        vl = value_labels.get(c, {})
        text = [vl.get(float(v), _fmt(v)) for v in axis["value"]]
        rows.append(_row(labels.get(c, c), "predictor", c, axis["points"], axis["value"], text))
    total = nom.total_points_axis()
    f = nom.maxscale / float(total.max())
    rows.append(_row("Total Points", "total", None, total * f, total, [_fmt(v) for v in total]))
    if show_lp:
        lp = nom.lp_axis()
        rows.append(_row("Linear Predictor", "lp", None, lp["points"] * f, lp["lp"], [_fmt(v) for v in lp["lp"]]))
    for t, tl in zip(times, time_labels):
        ax = nom.survival_axis(t, fun_at)
        rows.append(_row(tl, "survival", t, ax["points"] * f, ax["surv"], [_fmt(v) for v in ax["surv"]]))
    return rows


def nomogram_inputs(nom: Nomogram, values: Mapping[str, float]) -> tuple[pd.DataFrame, list, list]:
    """One patient's row for the nomogram, from coded values (any subset).

    Covariates of the nomogram missing from ``values`` are set to the
    datadist "Adjust to" value of the fitting data (median of a continuous
    covariate, lower level of a binary one), as rms does.

    Returns
    -------
    row : pandas.DataFrame
        One row, the nomogram's covariates.
    filled : list of str
        Covariates set to their "Adjust to" value.
    ignored : list of str
        Keys of ``values`` that are not in the nomogram.

    >>> from npc_lib.stats.cox import fit_cox
    >>> d = pd.DataFrame({"t": [5, 8, 9, 12, 15, 20, 22, 30], "e": [1, 1, 1, 0, 1, 1, 0, 1],
    ...                   "x": [2.1, 1.5, 1.9, 0.3, 1.0, 0.2, 0.8, 0.1], "z": [1, 0, 1, 0, 1, 1, 0, 0]})
    >>> nom = Nomogram.from_cox(fit_cox(d, "t", "e", ["x", "z"]), d)
    >>> row, filled, ignored = nomogram_inputs(nom, {"x": 2.0, "age": 50})
    >>> row.values.tolist(), filled, ignored
    ([[2.0, 0.0]], ['z'], ['age'])
    """
    nom = _check_nomogram(nom)
    if not isinstance(values, Mapping):
        raise ValueError("values must be a mapping covariate -> value")
    adjust = nom.datadist.limits.loc["Adjust to"]
    row, filled = {}, []
    for c in nom.covariates:
        if c in values:
            v = float(values[c])
            if not np.isfinite(v):
                raise ValueError(f"values[{c!r}] is not a finite number")
            row[c] = v
        else:
            row[c] = float(adjust[c])
            filled.append(c)
    ignored = [k for k in values if k not in nom.covariates]
    return pd.DataFrame([row], columns=list(nom.covariates)), filled, ignored


def outside_axes(nom: Nomogram, row: pd.DataFrame) -> list:
    """Covariates whose value in the one-row ``row`` lies outside their nomogram axis.

    Their points are extrapolated (as rms computes them); the drawing puts
    the mark, hollow, at the end of the axis.

    >>> from npc_lib.stats.cox import fit_cox
    >>> d = pd.DataFrame({"t": [5, 8, 9, 12, 15, 20, 22, 30], "e": [1, 1, 1, 0, 1, 1, 0, 1],
    ...                   "x": [2.1, 1.5, 1.9, 0.3, 1.0, 0.2, 0.8, 0.1]})
    >>> nom = Nomogram.from_cox(fit_cox(d, "t", "e", ["x"]), d)
    >>> outside_axes(nom, pd.DataFrame({"x": [3.0]})), outside_axes(nom, pd.DataFrame({"x": [1.0]}))
    (['x'], [])
    """
    nom = _check_nomogram(nom)
    if not isinstance(row, pd.DataFrame) or len(row) != 1:
        raise ValueError("row must be a one-row DataFrame (see nomogram_inputs)")
    out = []
    for c in nom.covariates:
        v, axis = float(row[c].iloc[0]), nom.axis_values[c]
        if v < axis.min() - 1e-12 or v > axis.max() + 1e-12:
            out.append(c)
    return out


def plot_nomogram(nom: Nomogram, times: Sequence[float] = (36.0, 60.0), *,
                  time_labels: Sequence[str] | None = None, labels: Mapping[str, str] | None = None,
                  value_labels: Mapping[str, Mapping[float, str]] | None = None,
                  fun_at: Sequence[float] = DEFAULT_FUN_AT, show_lp: bool = False,
                  patient: pd.DataFrame | None = None, title: str = "Nomogram"):
    """Draw the nomogram (rms layout) with plotly; optionally mark one patient.

    Parameters
    ----------
    nom : Nomogram
    times, time_labels, labels, value_labels, fun_at, show_lp
        As :func:`nomogram_layout`.
    patient : pandas.DataFrame, optional
        One row with the nomogram's covariates (:func:`nomogram_inputs`):
        its points per predictor, total points and survival are marked in red
        (a value outside its axis, :func:`outside_axes`, as a hollow mark at
        the axis end; its extrapolated points still count in the total).
    title : str

    Returns
    -------
    plotly.graph_objects.Figure
    """
    import plotly.graph_objects as go

    rows = nomogram_layout(nom, times, time_labels=time_labels, labels=labels, value_labels=value_labels,
                           fun_at=fun_at, show_lp=show_lp)
    fig = go.Figure()
    seg_x, seg_y, lab_x, lab_y, lab_t = [], [], [], [], []
    for k, row in enumerate(rows):
        y = -float(k)
        tk = row.ticks
        if len(tk):
            seg_x += [tk.x.min(), tk.x.max(), None]
            seg_y += [y, y, None]
            for x in tk.x:
                seg_x += [x, x, None]
                seg_y += [y, y + 0.15, None]
            lab_x += tk.x[tk.labelled].tolist()
            lab_y += [y + 0.38] * int(tk.labelled.sum())
            lab_t += tk.text[tk.labelled].tolist()
    fig.add_trace(go.Scatter(x=seg_x, y=seg_y, mode="lines", line=dict(color="black", width=1),
                             hoverinfo="skip", showlegend=False))
    fig.add_trace(go.Scatter(x=lab_x, y=lab_y, mode="text", text=lab_t, textfont=dict(size=10),
                             hoverinfo="skip", showlegend=False))
    fig.add_trace(go.Scatter(x=[-2.0] * len(rows), y=[-float(k) for k in range(len(rows))], mode="text",
                             text=[f"<b>{r.label}</b>" for r in rows], textposition="middle left",
                             textfont=dict(size=11), hoverinfo="skip", showlegend=False))
    if patient is not None:
        _mark_patient(fig, nom, rows, patient)
    fig.update_layout(
        title=title, height=60 + 46 * len(rows), showlegend=False, plot_bgcolor="white",
        xaxis=dict(visible=False, range=[-38.0, nom.maxscale + 4.0], fixedrange=True),
        yaxis=dict(visible=False, range=[-len(rows) + 0.4, 0.8], fixedrange=True),
        margin=dict(l=10, r=10, t=50, b=10),
    )
    return fig


def _mark_patient(fig, nom: Nomogram, rows: list[NomogramRow], patient: pd.DataFrame) -> None:
    import plotly.graph_objects as go

    if not isinstance(patient, pd.DataFrame) or len(patient) != 1:
        raise ValueError("patient must be a one-row DataFrame (see nomogram_inputs)")
    pts = nom.points(patient).iloc[0]
    tp = float(nom.total_points(patient)[0])
    total_row = next(r for r in rows if r.kind == "total")
    f = nom.maxscale / float(total_row.ticks.value.max())
    outside = outside_axes(nom, patient)
    marks, lines_x, lines_y, hollow = [], [], [], []
    for k, row in enumerate(rows):
        y = -float(k)
        if row.kind == "predictor":
            x = float(pts[row.key])
            if row.key in outside:   # extrapolated: draw at the end of the axis, hollow
                x_axis = float(np.clip(x, row.ticks.x.min(), row.ticks.x.max()))
                hollow.append((x_axis, y, f"{row.label}: {x:.0f} points (value outside the axis, extrapolated)"))
                continue
            marks.append((x, y, f"{row.label}: {x:.0f} points"))
            lines_x += [x, x, None]
            lines_y += [y, 0.0, None]
        elif row.kind == "total":
            marks.append((tp * f, y, f"total {tp:.0f} points"))
        elif row.kind == "survival":
            s = float(nom.survival([tp], row.key)[0])
            marks.append((tp * f, y, f"{row.label}: {s:.1%}"))
        elif row.kind == "lp":
            marks.append((tp * f, y, f"lp {float(nom.linear_predictor([tp])[0]):.3f}"))
    xs, ys, text = (list(v) for v in zip(*marks))
    ys_total = [-float(k) for k, r in enumerate(rows) if r.kind in ("total", "survival", "lp")]
    lines_x += [tp * f, tp * f, None]
    lines_y += [min(ys_total), max(ys_total), None]
    fig.add_trace(go.Scatter(x=lines_x, y=lines_y, mode="lines", line=dict(color=_HIGHLIGHT, dash="dot", width=1),
                             hoverinfo="skip", showlegend=False))
    shown = [tx.split(": ")[-1] if rows[int(round(-y))].kind != "predictor" else "" for tx, y in zip(text, ys)]
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers+text", marker=dict(color=_HIGHLIGHT, size=8),
                             text=shown, textposition="bottom right", textfont=dict(color=_HIGHLIGHT, size=10),
                             customdata=text, hovertemplate="%{customdata}<extra></extra>", showlegend=False))
    if hollow:
        hx, hy, htext = (list(v) for v in zip(*hollow))
        fig.add_trace(go.Scatter(x=hx, y=hy, mode="markers", hovertemplate="%{customdata}<extra></extra>",
                                 marker=dict(color=_HIGHLIGHT, size=9, symbol="circle-open", line=dict(width=2)),
                                 customdata=htext, showlegend=False))
