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
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from npc_lib import paper
from npc_lib._io import read_json
from npc_lib.report import format_ci, format_p
from npc_lib.run.results.chapters import (EndpointsResults, ModelsResults, NomogramResults, RadiomicsResults,
                                          SignaturesResults, Table1Results)
from npc_lib.run.results.records import CIndex, CIndexComparison, RiskGroupComparison
from npc_lib.run.results.external import ExternalValidationResults, TransportRecord
from npc_lib.run.results.registry import (ENDPOINTS, EXTERNAL_VALIDATION, MODELS, NOMOGRAM, RADIOMICS, SIGNATURES,
                                          TABLE1, as_results)
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


def _table1_rows(m: Table1Results) -> list[dict]:
    printed = paper.TABLE1.drop_duplicates("variable").set_index("variable")["p"]
    return [_row("Table 1", f"p, {v}", str(printed[v]), format_p(m.p_values.get(v), 2),
                 note="" if v in m.p_values else "not computed") for v in printed.index]


def _table2_rows(m: ModelsResults) -> list[dict]:
    rows = []
    oracle = m.oracle_test or {}
    for r in paper.TABLE2.itertuples():
        c = m.cindex.get(r.cohort, {}).get(r.model) or CIndex()
        o = oracle.get(_ORACLE_OF.get(r.model, ""))
        rows.append(_row("Table 2", f"C-index, {r.model}, {r.cohort}",
                         format_ci(r.c_index, r.ci_lower, r.ci_upper), format_ci(c.c_index, c.lower, c.upper),
                         _inside(c.c_index, r.ci_lower, r.ci_upper),
                         f"{o:.3f}" if (o is not None and r.cohort == "test") else ""))
    for cohort in ("train", "test"):
        cmp_ = m.clinic_vs_dl.get(cohort) or CIndexComparison()
        rows.append(_row("Table 2", f"p, Model_clinic+dl vs Model_clinic, {cohort}", paper.CLINIC_VS_DL_P[cohort],
                         format_p(cmp_.p_value), note="survcomp cindex.comp"))
    for name, spec, printed in (("Model_clinic", m.model_clinic, paper.MODEL_CLINIC_COVARIATES),
                                ("Model_clinic+dl", m.model_clinic_dl, paper.MODEL_CLINIC_DL_COVARIATES)):
        ours = list(spec.selected_source)
        rows.append(_row("Models", f"covariates kept, {name}", ", ".join(printed), ", ".join(ours) or "(none)",
                         note="same set" if set(ours) == set(printed) else "differs"))
    return rows


def _risk_rows(m: NomogramResults) -> list[dict]:
    rows = []
    ref = paper.RISK_GROUPS.set_index("cohort")
    for cohort in ("train", "test"):
        s, p = m.risk_groups.get(cohort) or RiskGroupComparison(), ref.loc[cohort]
        note = "" if cohort in m.risk_groups else (m.risk_groups_skipped or "no risk groups")
        rows.append(_row("Risk groups", f"HR high vs low, {cohort}", format_ci(p.hr, p.hr_lower, p.hr_upper, 2),
                         format_ci(s.hr, s.hr_lower, s.hr_upper, 2), _inside(s.hr, p.hr_lower, p.hr_upper), note=note))
        rows.append(_row("Risk groups", f"log-rank p, {cohort}", p.p, format_p(s.logrank_p), note=note))
        for level, col in (("high", "dfs5_high"), ("low", "dfs5_low")):
            v = getattr(s, f"surv_{level}")
            rows.append(_row("Risk groups", f"5-year DFS, {level} risk, {cohort}", f"{getattr(p, col):.1f}%",
                             "NA" if v is None or not np.isfinite(v) else f"{100 * v:.1f}%", note=note))
    return rows


def _cv_rows(m: SignaturesResults) -> list[dict]:
    cv = [c for c in m.crossval_c_index if c is not None and np.isfinite(c)]
    lo, hi = paper.CV_CINDEX_RANGE
    ours = f"{min(cv):.3f}-{max(cv):.3f} ({len(cv)} folds)" if cv else "not run"
    inside = None if not cv else bool(lo <= float(np.median(cv)) <= hi)
    return [_row("Cross-validation", "held-out C-index range", f"{lo:.3f}-{hi:.3f}", ours, inside,
                 note="inside: the median fold lies in the paper's range")]


def _endpoint_rows(m: EndpointsResults) -> list[dict]:
    return [_row("Secondary endpoints", f"log-rank p, {ep.upper()}, {cohort}", "<0.001", format_p(r.logrank_p))
            for cohort, by_ep in m.endpoints.items() for ep, r in by_ep.items() if ep.lower() != "dfs"]


def _radiomics_rows(m: RadiomicsResults) -> list[dict]:
    return [_row("Handcrafted radiomics", f"C-index, {name}, {cohort}", "unsatisfactory (no number)",
                 format_ci(c.c_index, c.lower, c.upper))
            for name, by in m.cindex.items() for cohort in ("train", "test") if (c := by.get(cohort)) is not None]


def _transport_cells(r: TransportRecord | None) -> dict[str, str]:
    """Harrell's C, calibration slope and O/E at each horizon of one transport record, formatted."""
    if r is None:
        return {}
    out = {"Harrell's C": "NA" if r.harrell is None else format_ci(r.harrell.estimate, r.harrell.lower, r.harrell.upper),
           "calibration slope": "NA" if r.slope is None else format_ci(r.slope.slope, r.slope.lower, r.slope.upper)}
    for t, oe in r.oe.items():
        out[f"O/E at {t} months"] = "NA" if oe is None else format_ci(oe.ratio, oe.lower, oe.upper)
    return out


def _external_rows(m: ExternalValidationResults) -> list[dict]:
    """Chapter 10: the locked model at a second centre (the paper's stated limitation: one centre only)."""
    section, printed = "External validation", "not done (one centre)"
    if m.cohort is None:
        return []
    note = f"{m.cohort.source}: {m.cohort.n} patients, {m.cohort.events} events"
    if m.skipped:
        return [_row(section, "locked model at a second centre", printed, "not assessed", note=m.skipped)]
    oracle = _transport_cells(m.oracle)
    rows = [_row(section, f"{k}, locked model, second centre", printed, v, oracle=oracle.get(k, ""), note=note)
            for k, v in _transport_cells(m.locked).items()]
    if m.risk_groups is not None:
        g = m.risk_groups
        rows.append(_row(section, "HR high vs low (locked cut-off), second centre", printed,
                         format_ci(g.hr, g.hr_lower, g.hr_upper, 2), note=f"log-rank p {format_p(g.logrank_p)}"))
    for kind, u in m.updates.items():
        for k, v in _transport_cells(u.evaluation).items():
            rows.append(_row(section, f"{k}, {kind} update, evaluation half", printed, v,
                             note="updated on the other half of the second centre's patients"))
    return rows


_SECTIONS: list[tuple[str, Callable[[Any], list[dict]]]] = [
    (TABLE1, _table1_rows), (MODELS, _table2_rows), (NOMOGRAM, _risk_rows),
    (SIGNATURES, _cv_rows), (ENDPOINTS, _endpoint_rows), (RADIOMICS, _radiomics_rows),
    (EXTERNAL_VALIDATION, _external_rows),
]


def reproduction_table(metrics: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """Every recomputed number of the paper beside ours (see the module docstring).

    Parameters
    ----------
    metrics : mapping
        ``{chapter: results}``: typed (:func:`npc_lib.run.results.read_all_results`)
        or their JSON data (:func:`read_metrics`; checked on the way in).

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
            rows += make(as_results(chapter, metrics[chapter]))
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
        values = [m.get(k) if isinstance(m, Mapping) else getattr(m, k, None) for k in ("nomogram_skipped", "skipped")]
        why = [v for v in values if isinstance(v, str) and v]
        if why:
            out[chapter] = "; ".join(dict.fromkeys(why))
    return out
