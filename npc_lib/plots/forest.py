"""Forest plot of the risk groups' hazard ratio within subgroups (Fig. D2 of the paper).

One row per subgroup level, grouped under a header row per subgroup variable
that carries the p of the group x subgroup interaction; the point is the HR
of the high- vs the low-risk group with its 95 % CI on a log axis, filled
where the Wald p < ``alpha``, hollow otherwise. The text beside each row gives
events / patients per risk group, the HR (95 % CI) and p; a level whose HR is
not estimable shows its counts and "not estimable". An optional line states
the paper's claim beside ours.

Input is the ``levels`` / ``interactions`` tables of
:func:`npc_lib.stats.subgroups.subgroup_analysis` (aggregates only, no
patient identifiers). HR above 1: the high-risk group does worse.
"""

from __future__ import annotations

__all__ = ["plot_subgroup_forest", "forest_rows"]

import textwrap
from typing import Mapping

import numpy as np
import pandas as pd

from npc_lib.report import format_ci, format_p

_LEVEL_COLUMNS = ("variable", "level", "hr", "hr_lower", "hr_upper", "p", "n_low", "n_high",
                  "events_low", "events_high", "estimable")
_COLOUR = "#1f77b4"


def _check_levels(levels) -> pd.DataFrame:
    if not isinstance(levels, pd.DataFrame):
        raise ValueError(f"levels must be a pandas DataFrame, got {type(levels).__name__}")
    missing = [c for c in _LEVEL_COLUMNS if c not in levels.columns]
    if missing:
        raise ValueError(f"levels: missing column(s) {missing} (use subgroup_analysis(...).levels)")
    if levels.empty:
        raise ValueError("levels is empty")
    if "cohort" in levels.columns and levels["cohort"].nunique() > 1:
        raise ValueError("levels: more than one cohort; plot one cohort at a time")
    return levels


def _p_phrase(p: float) -> str:
    """``"p<0.001"``, ``"p=0.043"`` or ``"p NA"`` (:func:`npc_lib.report.format_p`)."""
    return format_p(p, prefix=True, na="p NA")


def forest_rows(levels: pd.DataFrame, interactions: pd.DataFrame | None = None,
                titles: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The rows of the forest plot, top to bottom: headers and levels with their text.

    Returns
    -------
    pandas.DataFrame
        ``kind`` ("header"/"level"), ``label``, ``hr, hr_lower, hr_upper, p``
        (NaN on headers and non-estimable levels), ``significant`` (bool),
        ``text`` (counts, HR (95 % CI), p or "not estimable").

    Examples
    --------
    >>> lv = pd.DataFrame({"variable": ["sex", "sex"], "level": ["Male", "Female"], "hr": [3.0, np.nan],
    ...                    "hr_lower": [1.5, np.nan], "hr_upper": [6.0, np.nan], "p": [0.002, np.nan],
    ...                    "n_low": [40, 20], "n_high": [30, 10], "events_low": [4, 2], "events_high": [9, 0],
    ...                    "estimable": [True, False]})
    >>> forest_rows(lv, titles={"sex": "Sex"})[["kind", "label"]].values.tolist()
    [['header', 'Sex'], ['level', 'Male'], ['level', 'Female']]
    >>> forest_rows(lv)["text"].iloc[2]
    'high 0/10, low 2/20: not estimable'
    """
    levels = _check_levels(levels)
    titles = dict(titles or {})
    p_int = {}
    if interactions is not None:
        if not {"variable", "p"} <= set(interactions.columns):
            raise ValueError("interactions: needs columns 'variable' and 'p' (use subgroup_analysis(...).interactions)")
        p_int = dict(zip(interactions["variable"], interactions["p"].astype(float)))
    rows = []
    for var, part in levels.groupby("variable", sort=False):
        head = str(titles.get(var, var))
        if var in p_int:
            head += f" (interaction {_p_phrase(p_int[var])})"
        rows.append({"kind": "header", "label": head, "hr": np.nan, "hr_lower": np.nan, "hr_upper": np.nan,
                     "p": np.nan, "significant": False, "text": ""})
        for r in part.itertuples():
            counts = f"high {r.events_high}/{r.n_high}, low {r.events_low}/{r.n_low}"
            ok = bool(r.estimable) and np.isfinite(r.hr)
            text = (f"{counts}: {format_ci(r.hr, r.hr_lower, r.hr_upper, 2)}, {_p_phrase(r.p)}" if ok
                    else f"{counts}: not estimable")
            rows.append({"kind": "level", "label": str(r.level), "hr": r.hr if ok else np.nan,
                         "hr_lower": r.hr_lower if ok else np.nan, "hr_upper": r.hr_upper if ok else np.nan,
                         "p": r.p if ok else np.nan, "significant": bool(ok and r.p < 0.05), "text": text})
    return pd.DataFrame(rows)


def plot_subgroup_forest(levels: pd.DataFrame, interactions: pd.DataFrame | None = None, *,
                         titles: Mapping[str, str] | None = None, title: str = "High vs low risk within subgroups",
                         claim: str | None = None, alpha: float = 0.05,
                         x_label: str = "HR high vs low risk (95% CI, log scale)"):
    """Forest plot of the subgroup HRs (one cohort) with interaction p-values and the paper's claim.

    Parameters
    ----------
    levels, interactions : pandas.DataFrame
        ``subgroup_analysis(...).levels`` / ``.interactions`` of one cohort.
    titles : mapping, optional
        Subgroup variable -> header label (e.g. "Family history of cancer").
    claim : str, optional
        The paper's statement, printed under the plot beside ours.
    alpha : float
        Filled markers where the Wald p < ``alpha``, hollow otherwise.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    import plotly.graph_objects as go

    if not 0.0 < float(alpha) < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    rows = forest_rows(levels, interactions, titles)
    y = -np.arange(len(rows), dtype=float)
    lab = [f"<b>{r.label}</b>" if r.kind == "header" else f"    {r.label}" for r in rows.itertuples()]
    fig = go.Figure()
    ok = np.isfinite(rows["hr"].to_numpy(dtype=float))
    sig = rows["p"].to_numpy(dtype=float) < alpha
    for mask, name, symbol in ((ok & sig, f"p < {alpha:g}", "square"), (ok & ~sig, f"p >= {alpha:g}", "square-open")):
        if not mask.any():
            continue
        part = rows[mask]
        fig.add_trace(go.Scatter(
            x=part["hr"], y=y[mask], mode="markers", name=name, marker=dict(symbol=symbol, size=10, color=_COLOUR),
            error_x=dict(type="data", array=part["hr_upper"] - part["hr"], arrayminus=part["hr"] - part["hr_lower"],
                         thickness=1.5, color=_COLOUR),
            text=part["text"], hovertemplate="%{text}<extra></extra>"))
    span = np.concatenate([rows.loc[ok, "hr_lower"], rows.loc[ok, "hr_upper"], [1.0]]).astype(float)
    span = span[np.isfinite(span) & (span > 0)]
    lo, hi = np.log10(span.min()) - 0.15, np.log10(span.max()) + 0.15
    fig.add_vline(x=1.0, line=dict(color="grey", dash="dash"))
    for yy, tx in zip(y, rows["text"]):
        if tx:
            fig.add_annotation(x=1.01, xref="paper", xanchor="left", y=yy, yref="y", text=tx, showarrow=False,
                               font=dict(size=10))
    fig.add_annotation(x=1.01, xref="paper", xanchor="left", y=0.6, yref="y", showarrow=False,
                       text="<i>events/patients per risk group: HR (95% CI), p</i>", font=dict(size=10))
    if claim:
        fig.add_annotation(x=0.0, y=0.0, yshift=-55, xref="paper", yref="paper", xanchor="left", yanchor="top",
                           text="<br>".join(textwrap.wrap(claim, 110)), showarrow=False, align="left",
                           font=dict(size=11))
    fig.update_layout(
        title=title, height=150 + 28 * len(rows) + (40 if claim else 0),
        xaxis=dict(type="log", title=x_label, range=[lo, hi]),
        yaxis=dict(tickvals=y, ticktext=lab, range=[y.min() - 0.7, 1.0], zeroline=False, showgrid=False),
        legend=dict(orientation="h", x=0.0, y=1.02, yanchor="bottom"),
        margin=dict(l=10, r=300, t=80, b=110 if claim else 50))
    return fig
