"""A21: the reproduction report, collected from a run's ``metrics.json`` files (never typed in).

:func:`reproduction_table` lists every number the paper reports that the book
recomputes (Table 1's p-values, Table 2's C-indices, the selected covariates,
the risk groups' hazard ratios and 5-year DFS, the cross-validation range, the
secondary endpoints' p-values, the handcrafted radiomics comparison): the
paper's value, ours, whether ours lies inside the paper's 95% confidence
interval where it has one, and the twin's oracle where there is one.
:func:`abstract_verdicts` states, for each claim of the abstract (and the
text's few further claims), whether it ``held`` or was ``not held`` on this
run, by a stated rule; a claim whose chapter did not run is ``not assessed``.
"""

from __future__ import annotations

__all__ = ["reproduction_table", "abstract_verdicts", "read_metrics", "ALPHA"]

from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from npc_lib import paper
from npc_lib._io import read_json
from npc_lib.report import format_ci, format_p

#: significance level of the verdicts ("significant" = p below it)
ALPHA = 0.05
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
    for cohort, by_ep in ((m.get("fig3_claim") or {}).get("logrank_p") or {}).items():
        for ep, p in by_ep.items():
            if ep.lower() != "dfs":
                rows.append(_row("Secondary endpoints", f"log-rank p, {ep.upper()}, {cohort}", "<0.001",
                                 format_p(p)))
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


def _significant(p) -> bool:
    return p is not None and np.isfinite(float(p)) and float(p) < ALPHA


def _paper_c(model: str, cohort: str) -> float:
    return float(paper.TABLE2.set_index(["model", "cohort"]).loc[(model, cohort), "c_index"])


def _paper_signatures(cohort: str) -> str:
    lo, hi = paper.SIGNATURE_CINDEX_RANGE[cohort]
    t2 = paper.TABLE2[(paper.TABLE2["cohort"] == cohort) & paper.TABLE2["model"].str.startswith("DL_")]
    return f"C {lo:.3f}-{hi:.3f}, p {', '.join(sorted(set(t2['p'])))}"


def _paper_improvement(cohort: str) -> str:
    return (f"{_paper_c('Model_clinic+dl', cohort):.3f} vs {_paper_c('Model_clinic', cohort):.3f}, "
            f"p {paper.CLINIC_VS_DL_P[cohort]}")


def _paper_beats_clinic(cohort: str) -> str:
    lo, hi = paper.SIGNATURE_CINDEX_RANGE[cohort]
    return f"{lo:.3f}-{hi:.3f} vs {_paper_c('Model_clinic', cohort):.3f}"


def _paper_risk_groups(cohort: str) -> str:
    r = paper.RISK_GROUPS.set_index("cohort").loc[cohort]
    return f"HR {r.hr:.2f}, p {r.p}"


def _claims(metrics: dict) -> list[tuple[str, str, str, Callable[[], tuple[bool, str]]]]:
    m05, m06, m07, m08 = (metrics.get(k, {}) for k in ("05_models", "06_nomogram", "07_endpoints_subgroups",
                                                      "08_radiomics"))
    sigs = ("DL_T1_sig", "DL_T2_sig", "DL_T1C_sig")

    def c(cohort, model):
        return ((m05.get("cindex") or {}).get(cohort) or {}).get(model) or {}

    def signatures_significant(cohort):
        ok = [(c(cohort, s).get("c_index") or 0) > 0.5 and _significant(c(cohort, s).get("p_value")) for s in sigs]
        return all(ok), ", ".join(f"{s} {_num(c(cohort, s).get('c_index')):.3f} (p {format_p(c(cohort, s).get('p_value'))})"
                                  for s in sigs)

    def improved(cohort):
        r = (m05.get("clinic_vs_dl") or {}).get(cohort) or {}
        held = _num(r.get("c_new")) > _num(r.get("c_ref")) and _significant(r.get("p_value"))
        return held, f"{_num(r.get('c_new')):.3f} vs {_num(r.get('c_ref')):.3f}, p {format_p(r.get('p_value'))}"

    def beats_clinic(cohort):
        ref = _num(c(cohort, "Model_clinic").get("c_index"))
        return all(_num(c(cohort, s).get("c_index")) > ref for s in sigs), \
            ", ".join(f"{s} {_num(c(cohort, s).get('c_index')):.3f}" for s in sigs) + f" vs Model_clinic {ref:.3f}"

    def stratifies(cohort):
        s = (m06.get("risk_groups") or {}).get(cohort) or {}
        return _num(s.get("hr")) > 1 and _significant(s.get("logrank_p")), \
            f"HR {_num(s.get('hr')):.2f}, log-rank p {format_p(s.get('logrank_p'))}"

    def fig3():
        ps = [p for by in ((m07.get("fig3_claim") or {}).get("logrank_p") or {}).values() for e, p in by.items()
              if e.lower() != "dfs"]
        return bool(ps) and all(_significant(p) for p in ps), f"{sum(_significant(p) for p in ps)} of {len(ps)} p < {ALPHA}"

    def d2():
        held = (m07.get("figD2_claim") or {}).get("held")
        by_cohort = held if isinstance(held, dict) else {"all": held}
        return bool(by_cohort) and all(bool(v) for v in by_cohort.values()), \
            ", ".join(f"{c}: {'every level significant' if v else 'not every level significant'}"
                      for c, v in by_cohort.items())

    def handcrafted():
        w = m08.get("dl_beats_handcrafted")
        return bool(w), str(m08.get("comparison_summary", ""))

    return [
        ("05_models", "Each DL signature correlates with DFS in the training cohort",
         _paper_signatures("train"), lambda: signatures_significant("train")),
        ("05_models", "Each DL signature correlates with DFS in the test cohort", _paper_signatures("test"),
         lambda: signatures_significant("test")),
        ("05_models", "Model_clinic+dl improves on Model_clinic, training cohort", _paper_improvement("train"),
         lambda: improved("train")),
        ("05_models", "Model_clinic+dl improves on Model_clinic, test cohort", _paper_improvement("test"),
         lambda: improved("test")),
        ("05_models", "Each DL signature beats Model_clinic in the test cohort", _paper_beats_clinic("test"),
         lambda: beats_clinic("test")),
        ("06_nomogram", "High-risk group has shorter DFS, training cohort", _paper_risk_groups("train"),
         lambda: stratifies("train")),
        ("06_nomogram", "High-risk group has shorter DFS, validated in the test cohort", _paper_risk_groups("test"),
         lambda: stratifies("test")),
        ("07_endpoints_subgroups", "Risk groups separate OS, DMFS and LRFS (Fig. 3)", "all p < 0.001", fig3),
        ("07_endpoints_subgroups", "The nomogram stays prognostic in every subgroup (Fig. D2)",
         "significant in every subgroup", d2),
        ("08_radiomics", "Handcrafted radiomics do worse than the DL signatures (Appendix C)",
         "unsatisfactory results", handcrafted),
    ]


def abstract_verdicts(metrics: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """One verdict per claim: ``held``, ``not held`` or ``not assessed`` (its chapter did not run).

    A claim of significance holds when our estimate points the same way and
    its p-value is below :data:`ALPHA` (the paper's smaller p-values are shown
    beside, not required).

    Examples
    --------
    >>> v = abstract_verdicts({})
    >>> set(v["verdict"])
    {'not assessed'}
    """
    rows = []
    for chapter, claim, printed, check in _claims(metrics):
        if chapter not in metrics:
            rows.append({"claim": claim, "paper": printed, "ours": "", "verdict": "not assessed", "chapter": chapter})
            continue
        held, ours = check()
        rows.append({"claim": claim, "paper": printed, "ours": ours, "verdict": "held" if held else "not held",
                     "chapter": chapter})
    return pd.DataFrame(rows, columns=["claim", "paper", "ours", "verdict", "chapter"])
