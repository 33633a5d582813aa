"""A21: the reproduction report, collected from a run's ``metrics.json`` files (never typed in).

:func:`reproduction_table` lists every number the paper reports that the book
recomputes (Table 1's p-values, Table 2's C-indices, the selected covariates,
the risk groups' hazard ratios and 5-year DFS, the cross-validation range, the
secondary endpoints' p-values, the handcrafted radiomics comparison): the
paper's value, ours, whether ours lies inside the paper's 95% confidence
interval where it has one, and the twin's oracle where there is one.
:func:`abstract_verdicts` states, for each claim of the abstract (and the
text's few further claims), whether it ``held`` or was ``not held`` on this
run, as decided by :mod:`npc_lib.run.verdicts` (one rule, stated there); a
claim whose chapter did not run is ``not assessed``.
"""

from __future__ import annotations

__all__ = ["reproduction_table", "abstract_verdicts", "read_metrics", "skipped_analyses", "ALPHA"]

from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from npc_lib import paper
from npc_lib._io import read_json
from npc_lib.report import format_ci, format_p
from npc_lib.run.verdicts import ALPHA, claim_verdicts, verdict_table

_COLUMNS = ["section", "quantity", "paper", "ours", "inside_paper_ci", "oracle", "note"]
_ORACLE_OF = {"DL_T1_sig": "truth: lp_T1", "DL_T2_sig": "truth: lp_T2", "DL_T1C_sig": "truth: lp_T1C",
              "Model_clinic": "truth: lp_clinical", "Model_clinic+dl": "truth: lp_total"}


def read_metrics(run_dir: str | Path) -> dict[str, dict[str, Any]]:
    """``{chapter name: metrics}`` of every chapter folder of ``run_dir`` holding a ``metrics.json``."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ValueError(f"run_dir: {run_dir} is not a folder")
    return {path.parent.name: read_json(path, f"chapter {path.parent.name}")
            for path in sorted(run_dir.glob("*/metrics.json"))}


def _num(x) -> float:
    return float("nan") if x is None else float(x)


def _inside(value, lower, upper) -> bool | None:
    v, lo, hi = _num(value), _num(lower), _num(upper)
    return None if not np.all(np.isfinite([v, lo, hi])) else bool(lo <= v <= hi)


def _row(section, quantity, paper_value, ours, inside=None, oracle="", note="") -> dict[str, Any]:
    return dict(zip(_COLUMNS, (section, quantity, paper_value, ours, inside, oracle, note)))


def _table1_rows(m: dict) -> list[dict]:
    printed = paper.TABLE1.drop_duplicates("variable").set_index("variable")["p"]
    ours = m.get("p_values", {})
    rows = [_row("Table 1", f"p, {v}", str(printed[v]), format_p(ours.get(v), 2),
                 note="" if v in ours else "not computed") for v in printed.index]
    return rows


def _table2_rows(m: dict) -> list[dict]:
    rows = []
    oracle = m.get("oracle_test") or {}
    for r in paper.TABLE2.itertuples():
        c = (m.get("cindex", {}).get(r.cohort) or {}).get(r.model) or {}
        o = oracle.get(_ORACLE_OF.get(r.model, ""))
        rows.append(_row("Table 2", f"C-index, {r.model}, {r.cohort}",
                         format_ci(r.c_index, r.ci_lower, r.ci_upper),
                         format_ci(c.get("c_index"), c.get("lower"), c.get("upper")),
                         _inside(c.get("c_index"), r.ci_lower, r.ci_upper),
                         f"{o:.3f}" if (o is not None and r.cohort == "test") else ""))
    for cohort in ("train", "test"):
        cmp_ = (m.get("clinic_vs_dl") or {}).get(cohort) or {}
        rows.append(_row("Table 2", f"p, Model_clinic+dl vs Model_clinic, {cohort}", paper.CLINIC_VS_DL_P[cohort],
                         format_p(cmp_.get("p_value")), note="survcomp cindex.comp"))
    for name, key, printed in (("Model_clinic", "model_clinic", paper.MODEL_CLINIC_COVARIATES),
                               ("Model_clinic+dl", "model_clinic_dl", paper.MODEL_CLINIC_DL_COVARIATES)):
        ours = list((m.get(key) or {}).get("selected_source", []))
        same = set(ours) == set(printed)
        rows.append(_row("Models", f"covariates kept, {name}", ", ".join(printed), ", ".join(ours) or "(none)",
                         note="same set" if same else "differs"))
    return rows


def _risk_rows(m: dict) -> list[dict]:
    rows = []
    ref = paper.RISK_GROUPS.set_index("cohort")
    for cohort in ("train", "test"):
        s, p = (m.get("risk_groups") or {}).get(cohort) or {}, ref.loc[cohort]
        rows.append(_row("Risk groups", f"HR high vs low, {cohort}", format_ci(p.hr, p.hr_lower, p.hr_upper, 2),
                         format_ci(s.get("hr"), s.get("hr_lower"), s.get("hr_upper"), 2),
                         _inside(s.get("hr"), p.hr_lower, p.hr_upper)))
        rows.append(_row("Risk groups", f"log-rank p, {cohort}", p.p, format_p(s.get("logrank_p"))))
        for level, col in (("high", "dfs5_high"), ("low", "dfs5_low")):
            v = s.get(f"surv_{level}")
            rows.append(_row("Risk groups", f"5-year DFS, {level} risk, {cohort}", f"{getattr(p, col):.1f}%",
                             "NA" if v is None else f"{100 * v:.1f}%"))
    return rows


def _cv_rows(m: dict) -> list[dict]:
    cv = [c for c in m.get("crossval_c_index", []) if c is not None]
    lo, hi = paper.CV_CINDEX_RANGE
    ours = f"{min(cv):.3f}-{max(cv):.3f} ({len(cv)} folds)" if cv else "not run"
    inside = None if not cv else bool(lo <= float(np.median(cv)) <= hi)
    return [_row("Cross-validation", "held-out C-index range", f"{lo:.3f}-{hi:.3f}", ours, inside,
                 note="inside: the median fold lies in the paper's range")]


def _endpoint_rows(m: dict) -> list[dict]:
    rows = []
    for cohort, by_ep in (m.get("endpoints") or {}).items():
        for ep, r in (by_ep or {}).items():
            if ep.lower() != "dfs":
                rows.append(_row("Secondary endpoints", f"log-rank p, {ep.upper()}, {cohort}", "<0.001",
                                 format_p((r or {}).get("logrank_p"))))
    return rows


def _radiomics_rows(m: dict) -> list[dict]:
    rows = []
    for name, r in (m.get("cindex") or {}).items():
        for cohort in ("train", "test"):
            c = (r or {}).get(cohort) or {}
            if c:
                rows.append(_row("Handcrafted radiomics", f"C-index, {name}, {cohort}", "unsatisfactory (no number)",
                                 format_ci(c.get("c_index"), c.get("lower"), c.get("upper"))))
    return rows


_SECTIONS: list[tuple[str, Callable[[dict], list[dict]]]] = [
    ("02_table1", _table1_rows), ("05_models", _table2_rows), ("06_nomogram", _risk_rows),
    ("04_signatures", _cv_rows), ("07_endpoints_subgroups", _endpoint_rows), ("08_radiomics", _radiomics_rows),
]


def reproduction_table(metrics: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """Every recomputed number of the paper beside ours (see the module docstring).

    Parameters
    ----------
    metrics : dict
        :func:`read_metrics` of a run.

    Returns
    -------
    DataFrame
        Columns ``section, quantity, paper, ours, inside_paper_ci`` (True,
        False, or None where the paper gives no interval), ``oracle``, ``note``.

    Examples
    --------
    >>> t = reproduction_table({"02_table1": {"p_values": {"age": 0.5}}})
    >>> t.loc[t.quantity == "p, age", ["paper", "ours"]].values.tolist()
    [['0.78', '0.50']]
    """
    rows: list[dict] = []
    for chapter, make in _SECTIONS:
        if chapter in metrics:
            rows += make(metrics[chapter])
    return pd.DataFrame(rows, columns=_COLUMNS)


def abstract_verdicts(metrics: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """One verdict per claim, as a table (:func:`npc_lib.run.verdicts.claim_verdicts`, which states the rule).

    Examples
    --------
    >>> v = abstract_verdicts({})
    >>> set(v["verdict"])
    {'not assessed'}
    """
    return verdict_table(claim_verdicts(metrics))


def skipped_analyses(metrics: dict[str, dict[str, Any]]) -> dict[str, str]:
    """``{chapter: why}`` for each chapter of a run that skipped (part of) its analysis.

    A chapter says so in its results (``skipped``; chapter 06 also
    ``nomogram_skipped``): no nomogram for a model without covariate, no risk
    groups, no PyRadiomics.

    Examples
    --------
    >>> skipped_analyses({"06_nomogram": {"nomogram_skipped": "no covariate"}, "05_models": {"n_train": 3}})
    {'06_nomogram': 'no covariate'}
    """
    out = {}
    for chapter, m in metrics.items():
        why = [str(m[k]) for k in ("nomogram_skipped", "skipped") if isinstance(m, dict) and m.get(k)]
        if why:
            out[chapter] = "; ".join(dict.fromkeys(why))
    return out
