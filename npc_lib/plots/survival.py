"""Survival figures of the model chapters: Kaplan-Meier curves with numbers at risk,
calibration, time-dependent ROC, decision curves and hazard-ratio forest plots.

Every function returns a plotly Figure (render it with :func:`npc_lib.plots.show`,
save it with :func:`npc_lib.plots.save_figure`). Inputs are aggregates or the
results of :mod:`npc_lib.stats`; the figures show no patient identifiers.

Conventions: time in months; survival in [0, 1]; risk scores higher = worse;
hazard ratios above 1 = worse.
"""

from __future__ import annotations

__all__ = ["plot_km", "plot_calibration", "plot_td_roc", "plot_decision_curve", "plot_forest",
           "km_steps", "numbers_at_risk"]

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from npc_lib.report import format_ci, format_p
from npc_lib.stats._validation import check_survival
from npc_lib.stats.kaplan_meier import KaplanMeier

_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f")


def _colour(i: int) -> str:
    return _COLOURS[i % len(_COLOURS)]


# --------------------------------------------------------------------------- Kaplan-Meier


def km_steps(time, event) -> pd.DataFrame:
    """Kaplan-Meier step function from time 0: ``time, survival`` at 0 and every distinct time.

    Works without events (survival stays 1), unlike a fit that needs one.

    >>> km_steps([2, 3, 3, 5], [1, 0, 1, 0]).survival.round(3).tolist()
    [1.0, 0.75, 0.5, 0.5]
    """
    km = KaplanMeier.fit(time, event)
    u, surv = km.time, km.survival
    if u[0] > 0:
        u, surv = np.concatenate([[0.0], u]), np.concatenate([[1.0], surv])
    return pd.DataFrame({"time": u, "survival": surv})


def numbers_at_risk(time, group, at) -> pd.DataFrame:
    """Patients still at risk (time >= t) per group at each of ``at``: DataFrame groups x times.

    >>> numbers_at_risk([1, 5, 7, 12, 30], ["a", "a", "b", "b", "b"], [0, 6, 24]).values.tolist()
    [[2, 0, 0], [3, 3, 1]]
    """
    t = np.asarray(time, dtype=float).ravel()
    g = np.asarray(group).ravel()
    if g.size != t.size:
        raise ValueError(f"group length {g.size} differs from time length {t.size}")
    at = np.asarray(at, dtype=float).ravel()
    levels = sorted(pd.unique(g), key=str)
    counts = [[int(np.sum(t[g == lv] >= a)) for a in at] for lv in levels]
    return pd.DataFrame(counts, index=levels, columns=at)


def plot_km(time, event, group, *, labels: Mapping | None = None, at_risk_times: Sequence[float] | None = None,
            title: str = "Kaplan-Meier", annotation: str | None = None, y_label: str = "DFS probability",
            x_label: str = "Months"):
    """Kaplan-Meier curves per group with censoring marks and a numbers-at-risk table below.

    Parameters
    ----------
    time, event : array-like, shape (n,)
        Months; 1 = event.
    group : array-like, shape (n,)
        Group of each patient (e.g. 0 = low risk, 1 = high risk).
    labels : mapping, optional
        Group value -> legend label, also fixing the order; default: sorted values.
    at_risk_times : sequence of float, optional
        Times of the numbers-at-risk table; default every 12 months up to
        the last follow-up.
    title, annotation : str
        Figure title; optional text in the lower left (e.g. HR and p).

    Returns
    -------
    plotly.graph_objects.Figure
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    t, e = check_survival(time, event, min_events=0)
    g = np.asarray(group).ravel()
    if g.size != t.size:
        raise ValueError(f"group length {g.size} differs from time length {t.size}")
    if labels is None:
        labels = {lv: str(lv) for lv in sorted(pd.unique(g), key=str)}
    unknown = set(pd.unique(g)) - set(labels)
    if unknown:
        raise ValueError(f"labels: no label for group(s) {sorted(map(str, unknown))}")
    if at_risk_times is None:
        at_risk_times = np.arange(0.0, t.max() + 1e-9, 12.0)
    at = np.asarray(at_risk_times, dtype=float)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.8, 0.2], vertical_spacing=0.06)
    levels = [lv for lv in labels if np.any(g == lv)]
    at_risk = numbers_at_risk(t, g, at)
    for i, lv in enumerate(levels):
        m = g == lv
        steps = km_steps(t[m], e[m])
        fig.add_trace(go.Scatter(x=steps.time, y=steps.survival, mode="lines", line_shape="hv",
                                 name=f"{labels[lv]} (n={int(m.sum())}, events={int(e[m].sum())})",
                                 line=dict(color=_colour(i)), legendgroup=str(lv),
                                 hovertemplate="%{x:.1f} months: %{y:.3f}<extra></extra>"), row=1, col=1)
        cens = np.sort(t[m & ~e])
        if cens.size:
            idx = np.searchsorted(steps.time.to_numpy(), cens, side="right") - 1
            fig.add_trace(go.Scatter(x=cens, y=steps.survival.to_numpy()[idx], mode="markers",
                                     marker=dict(symbol="line-ns-open", size=7, color=_colour(i)),
                                     legendgroup=str(lv), showlegend=False, hoverinfo="skip"), row=1, col=1)
        fig.add_trace(go.Scatter(x=at, y=[str(labels[lv])] * at.size, mode="text",
                                 text=[str(c) for c in at_risk.loc[lv]],
                                 textfont=dict(color=_colour(i)), showlegend=False, hoverinfo="skip"), row=2, col=1)
    fig.update_yaxes(range=[0, 1.02], title_text=y_label, row=1, col=1)
    fig.update_yaxes(title_text="at risk", autorange="reversed", row=2, col=1)
    fig.update_xaxes(title_text=x_label, tickvals=at, row=2, col=1)
    fig.update_xaxes(tickvals=at, row=1, col=1)
    if annotation:
        fig.add_annotation(x=0.02, y=0.28, xref="paper", yref="paper", text=annotation, showarrow=False,
                           align="left", xanchor="left", bgcolor="rgba(255,255,255,0.8)")
    fig.update_layout(title=title, height=520, legend=dict(x=0.98, y=0.98, xanchor="right"),
                      margin=dict(l=60, r=20, t=60, b=40))
    return fig


# --------------------------------------------------------------------------- calibration


def plot_calibration(curves: Mapping, *, title: str = "Calibration", x_label: str = "Predicted DFS",
                     y_label: str = "Observed DFS (Kaplan-Meier)"):
    """Observed vs predicted survival per group, one series per curve, with 95 % bars and the diagonal.

    Parameters
    ----------
    curves : mapping label -> CalibrationResult or None
        E.g. ``{"3-year": cal36, "5-year": cal60}``; ``None`` entries (not
        estimable) are listed in a note instead.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    import plotly.graph_objects as go

    if not isinstance(curves, Mapping) or not curves:
        raise ValueError("curves must be a non-empty mapping label -> CalibrationResult")
    fig = go.Figure()
    lo = 1.0
    missing = []
    for i, (label, cal) in enumerate(curves.items()):
        if cal is None:
            missing.append(str(label))
            continue
        tab = cal.table[cal.table["km"].notna()]
        if tab.empty:
            missing.append(str(label))
            continue
        err_hi = (tab["upper"] - tab["km"]).fillna(0.0)
        err_lo = (tab["km"] - tab["lower"]).fillna(0.0)
        p = cal.test.p_value
        name = f"{label} ({cal.test.method} {format_p(p, 2, prefix=True)})" if np.isfinite(p) else str(label)
        fig.add_trace(go.Scatter(
            x=tab["mean_predicted"], y=tab["km"], mode="lines+markers", name=name,
            line=dict(color=_colour(i)),
            error_y=dict(type="data", array=err_hi, arrayminus=err_lo, visible=True, thickness=1),
            customdata=np.c_[tab["n"], tab["events"]],
            hovertemplate="predicted %{x:.3f}<br>observed %{y:.3f}<br>n=%{customdata[0]}, "
                          "events=%{customdata[1]}<extra></extra>"))
        lo = min(lo, float(np.nanmin([tab["mean_predicted"].min(), tab["lower"].min(), tab["km"].min()])))
    lo = max(0.0, np.floor(lo * 10) / 10 - 0.05)
    fig.add_trace(go.Scatter(x=[lo, 1], y=[lo, 1], mode="lines", name="ideal",
                             line=dict(color="grey", dash="dash"), hoverinfo="skip"))
    if missing:
        fig.add_annotation(x=0.02, y=0.98, xref="x domain", yref="y domain", showarrow=False, xanchor="left",
                           text="not estimable on this cohort: " + ", ".join(missing))
    fig.update_layout(title=title, xaxis=dict(title=x_label, range=[lo, 1.01], constrain="domain"),
                      yaxis=dict(title=y_label, range=[lo, 1.01], scaleanchor="x", scaleratio=1,
                                 constrain="domain"), height=520,
                      legend=dict(orientation="h", x=0.5, xanchor="center", y=-0.15, yanchor="top"))
    return fig


# --------------------------------------------------------------------------- time-dependent ROC


def plot_td_roc(panels: Mapping[str, Mapping], *, title: str = "Time-dependent ROC", cols: int = 2):
    """Time-dependent ROC curves, one panel per (cohort, time), one curve per model.

    Parameters
    ----------
    panels : mapping panel title -> mapping model -> TimeROC
        E.g. ``{"test, 3 years": {"Model_clinic": roc, ...}, ...}``. A model
        keeps its colour in every panel; each panel lists its AUCs.
    cols : int
        Panels per row.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    if not isinstance(panels, Mapping) or not panels:
        raise ValueError("panels must be a non-empty mapping title -> {model: TimeROC}")
    cols = max(1, min(int(cols), len(panels)))
    rows = -(-len(panels) // cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=list(panels), horizontal_spacing=0.08,
                        vertical_spacing=0.12)
    models = list(dict.fromkeys(m for p in panels.values() for m in p))
    shown = set()
    for k, (panel, rocs) in enumerate(panels.items()):
        r, c = k // cols + 1, k % cols + 1
        lines = []
        for model, roc in rocs.items():
            i = models.index(model)
            fig.add_trace(go.Scatter(x=roc.fpr, y=roc.tpr, mode="lines", name=model, legendgroup=model,
                                     showlegend=model not in shown, line=dict(color=_colour(i)),
                                     hovertemplate=f"{model}<br>FPR %{{x:.2f}}, TPR %{{y:.2f}}<extra></extra>"),
                          row=r, col=c)
            shown.add(model)
            lines.append(f"<span style='color:{_colour(i)}'>{model}: {roc.auc:.3f}</span>")
        fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(color="grey", dash="dot"),
                                 showlegend=False, hoverinfo="skip"), row=r, col=c)
        n = k + 1
        ref = "" if n == 1 else str(n)
        fig.add_annotation(x=0.98, y=0.02, xref=f"x{ref} domain", yref=f"y{ref} domain", xanchor="right",
                           yanchor="bottom", showarrow=False, align="right", font=dict(size=10),
                           text="AUC<br>" + ("<br>".join(lines) if lines else "not estimable"))
        fig.update_xaxes(title_text="1 - specificity", range=[0, 1], row=r, col=c)
        fig.update_yaxes(title_text="sensitivity", range=[0, 1.01], row=r, col=c)
    fig.update_layout(title=title, height=380 * rows + 60, legend=dict(orientation="h", y=-0.08))
    return fig


# --------------------------------------------------------------------------- decision curves


def plot_decision_curve(table: pd.DataFrame, *, title: str = "Decision curve",
                        x_label: str = "Threshold probability"):
    """Net benefit against threshold probability, one line per model plus treat-all / treat-none.

    Parameters
    ----------
    table : pandas.DataFrame
        Long form ``model, threshold, net_benefit`` as
        :func:`npc_lib.stats.performance.decision_curve_table` (rows named
        ``"Treat all"`` and ``"Treat none"`` are drawn grey and black).

    Returns
    -------
    plotly.graph_objects.Figure
    """
    import plotly.graph_objects as go

    need = {"model", "threshold", "net_benefit"}
    if not isinstance(table, pd.DataFrame) or not need <= set(table.columns):
        raise ValueError(f"table must be a DataFrame with columns {sorted(need)}")
    fig = go.Figure()
    styles = {"Treat all": dict(color="grey"), "Treat none": dict(color="black", dash="dash")}
    i = 0
    for model, part in table.groupby("model", sort=False):
        line = styles.get(model)
        if line is None:
            line, i = dict(color=_colour(i)), i + 1
        fig.add_trace(go.Scatter(x=part["threshold"], y=part["net_benefit"], mode="lines", name=str(model),
                                 line=line, hovertemplate=f"{model}<br>p_t %{{x:.2f}}: %{{y:.3f}}<extra></extra>"))
    nb = table["net_benefit"].to_numpy(dtype=float)
    top = float(np.nanmax(nb)) if np.isfinite(nb).any() else 0.1
    if table.empty:
        fig.add_annotation(x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                           text="not estimable on this cohort")
    fig.update_layout(title=title, xaxis=dict(title=x_label), height=420,
                      yaxis=dict(title="Net benefit", range=[-0.05, max(top, 0.01) * 1.1]),
                      legend=dict(x=0.98, y=0.98, xanchor="right"))
    return fig


# --------------------------------------------------------------------------- forest plot


def plot_forest(table: pd.DataFrame, *, title: str = "Hazard ratios", labels: Mapping | None = None,
                x_label: str = "Hazard ratio (95% CI, log scale)"):
    """Forest plot of hazard ratios: point, 95 % interval, line at 1 and the values as text.

    Parameters
    ----------
    table : pandas.DataFrame
        Indexed by covariate, columns ``hr, hr_lower, hr_upper`` and
        optionally ``p`` (as :func:`npc_lib.stats.univariate_cox` or
        ``CoxResult.summary``). Rows with a non-finite HR are listed but not drawn.
    labels : mapping, optional
        Covariate -> display label.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    import plotly.graph_objects as go

    need = {"hr", "hr_lower", "hr_upper"}
    if not isinstance(table, pd.DataFrame) or not need <= set(table.columns):
        raise ValueError(f"table must be a DataFrame with columns {sorted(need)}")
    if table.empty:
        raise ValueError("table is empty")
    labels = dict(labels or {})
    names = [str(labels.get(i, i)) for i in table.index]
    hr, lo, hi = (table[c].to_numpy(dtype=float) for c in ("hr", "hr_lower", "hr_upper"))
    ok = np.isfinite(hr) & (hr > 0) & np.isfinite(lo) & np.isfinite(hi) & (lo > 0)
    p = table["p"].to_numpy(dtype=float) if "p" in table.columns else np.full(len(table), np.nan)
    text = [(format_ci(h, a, b, 2) if k else "not estimable")
            + (", " + format_p(q, prefix=True) if np.isfinite(q) and k else "")
            for h, a, b, q, k in zip(hr, lo, hi, p, ok)]
    fig = go.Figure(go.Scatter(
        x=np.where(ok, hr, np.nan), y=names, mode="markers", marker=dict(symbol="square", size=9, color="#1f77b4"),
        error_x=dict(type="data", array=np.where(ok, hi - hr, 0), arrayminus=np.where(ok, hr - lo, 0), thickness=1.5),
        text=text, hovertemplate="%{y}: %{text}<extra></extra>", showlegend=False))
    span = np.concatenate([lo[ok], hi[ok], [1.0]])
    x_lo, x_hi = np.log10(span.min()) - 0.1, np.log10(span.max()) + 0.1
    fig.add_vline(x=1.0, line=dict(color="grey", dash="dash"))
    for name, tx in zip(names, text):
        fig.add_annotation(x=1.0, xref="paper", xanchor="left", y=name, text=tx, showarrow=False, font=dict(size=10))
    fig.update_layout(title=title, xaxis=dict(type="log", title=x_label, range=[x_lo, x_hi]),
                      yaxis=dict(autorange="reversed"), height=120 + 32 * len(names),
                      margin=dict(l=10, r=230, t=60, b=50))
    return fig
