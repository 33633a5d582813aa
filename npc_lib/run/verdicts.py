"""The paper's claims and one rule per claim: held, not held or not assessed on a run.

Every verdict of the book (the abstract's claims in the reproduction report,
Fig. 3 and Fig. D2 in chapter 07, Appendix C in chapter 08) is decided here,
from the results the chapters wrote, and only shown by the chapters.

The rule (:data:`RULE`): a claim of significance *holds* when our estimate
points the same way as the paper's and its p-value is below :data:`ALPHA`
(0.05). Where the paper printed p < 0.001, :attr:`ClaimVerdict.as_strong`
says whether ours is that small too (it is not required). A claim that
compares estimates without a test (a C-index above another, "unsatisfactory
results") holds when our estimates are ordered the same way. A claim whose
chapter did not run, or could not compute what the claim needs (a model that
kept no covariate has no risk groups), is *not assessed*, with the reason.

Direction of a risk-group comparison: the hazard ratio high vs low above 1;
where it is not estimable because a group has no event, the high-risk group's
larger share of patients with an event.
"""

from __future__ import annotations

__all__ = ["ALPHA", "STRONG", "RULE", "VERDICTS", "ClaimVerdict", "claim_verdicts", "claim_verdicts_for_run",
           "verdict_table", "fig3_verdict", "figd2_verdict", "appendix_c_verdict"]

import math
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import pandas as pd

from npc_lib import paper
from npc_lib.report import format_p
from npc_lib.run.results.chapters import EndpointsResults, ModelsResults, NomogramResults, RadiomicsResults
from npc_lib.run.results.records import VERDICTS, CIndex, ClaimVerdict, RiskGroupComparison
from npc_lib.run.results.registry import ENDPOINTS, MODELS, NOMOGRAM, RADIOMICS, as_results, results_class

#: significance level of every claim ("significant" = p below it)
ALPHA = 0.05
#: the paper's smallest printed p ("p < 0.001"): the second column asks whether ours is as strong
STRONG = 0.001
#: the rule, as the book states it
RULE = (f"A claim holds when our estimate points the same way as the paper's and its p-value is below {ALPHA:g}; "
        f"where the paper printed p < {STRONG:g}, a second column says whether ours is as strong. A claim that "
        "compares estimates without a test holds when ours are ordered the same way. A claim whose chapter did "
        "not run, or could not compute what it needs, is not assessed.")
_SIGNATURES = ("DL_T1_sig", "DL_T2_sig", "DL_T1C_sig")
_SECONDARY = ("os", "dmfs", "lrfs")


# --------------------------------------------------------------------------- the rule


def _num(x) -> float:
    try:
        return float("nan") if x is None else float(x)
    except (TypeError, ValueError):
        return float("nan")


def _finite(x) -> bool:
    return math.isfinite(_num(x))


def _paper_strong(printed: str | Sequence[str]) -> bool:
    """Whether the paper printed p < 0.001 (for every p of ``printed``)."""
    texts = [printed] if isinstance(printed, str) else list(printed)
    out = []
    for t in texts:
        value, bound = paper.parse_p(t)
        out.append(bound and value <= STRONG)
    return bool(out) and all(out)


def _verdict(claim_id, claim, chapter, printed, ours, *, same_way: Sequence[bool], p_values: Sequence[Any] = (),
             strong_printed: bool = False, tested: bool = True) -> ClaimVerdict:
    """The rule: every direction agrees and (for a tested claim) every p < ALPHA."""
    ps = [_num(p) for p in p_values]
    if tested:
        held = bool(same_way) and all(same_way) and bool(ps) and all(math.isfinite(p) and p < ALPHA for p in ps)
        worst = max(ps) if ps and all(math.isfinite(p) for p in ps) else None
    else:
        held, worst = bool(same_way) and all(same_way), None
    strong = None
    if strong_printed and tested:
        strong = bool(held and all(p < STRONG for p in ps))
    return ClaimVerdict(claim_id, claim, chapter, printed, ours, "held" if held else "not held", held, strong, worst)


def _not_assessed(claim_id, claim, chapter, printed, why) -> ClaimVerdict:
    return ClaimVerdict(claim_id, claim, chapter, printed, why, "not assessed", None)


def _group_same_way(r: RiskGroupComparison) -> bool:
    """High-risk group worse: HR > 1, or (HR not estimable) a larger event share in the high-risk group."""
    if _finite(r.hr):
        return _num(r.hr) > 1
    n_hi, n_lo = _num(r.n_high), _num(r.n_low)
    if not (n_hi > 0 and n_lo > 0):
        return False
    return _num(r.events_high) / n_hi > _num(r.events_low) / n_lo


# --------------------------------------------------------------------------- claims of chapter 05


def _cindex(m05: ModelsResults, cohort: str, model: str) -> CIndex | None:
    return m05.cindex.get(cohort, {}).get(model)


def _signatures_verdict(m05: ModelsResults, cohort: str) -> ClaimVerdict:
    claim = f"Each DL signature correlates with DFS in the {'training' if cohort == 'train' else 'test'} cohort"
    lo, hi = paper.SIGNATURE_CINDEX_RANGE[cohort]
    t2 = paper.TABLE2[(paper.TABLE2["cohort"] == cohort) & paper.TABLE2["model"].str.startswith("DL_")]
    printed = f"C {lo:.3f}-{hi:.3f}, p {', '.join(sorted(set(t2['p'])))}"
    found = [_cindex(m05, cohort, s) for s in _SIGNATURES]
    if not any(found):
        return _not_assessed(f"signatures_{cohort}", claim, MODELS, printed, "no signature has a C-index")
    rows = [r or CIndex() for r in found]
    ours = ", ".join(f"{s} {_num(r.c_index):.3f} (p {format_p(r.p_value)})" for s, r in zip(_SIGNATURES, rows))
    return _verdict(f"signatures_{cohort}", claim, MODELS, printed, ours,
                    same_way=[_num(r.c_index) > 0.5 for r in rows], p_values=[r.p_value for r in rows],
                    strong_printed=_paper_strong(list(t2["p"])))


def _improves_verdict(m05: ModelsResults, cohort: str) -> ClaimVerdict:
    claim = f"Model_clinic+dl improves on Model_clinic, {'training' if cohort == 'train' else 'test'} cohort"
    pc = paper.TABLE2.set_index(["model", "cohort"])["c_index"]
    printed = (f"{pc[('Model_clinic+dl', cohort)]:.3f} vs {pc[('Model_clinic', cohort)]:.3f}, "
               f"p {paper.CLINIC_VS_DL_P[cohort]}")
    r = m05.clinic_vs_dl.get(cohort)
    if r is None:
        return _not_assessed(f"improves_{cohort}", claim, MODELS, printed, "no comparison of the two models")
    ours = f"{_num(r.c_new):.3f} vs {_num(r.c_ref):.3f}, p {format_p(r.p_value)}" + (f" ({r.note})" if r.note else "")
    return _verdict(f"improves_{cohort}", claim, MODELS, printed, ours,
                    same_way=[_num(r.c_new) > _num(r.c_ref)], p_values=[r.p_value],
                    strong_printed=_paper_strong(paper.CLINIC_VS_DL_P[cohort]))


def _beats_clinic_verdict(m05: ModelsResults) -> ClaimVerdict:
    claim = "Each DL signature beats Model_clinic in the test cohort"
    lo, hi = paper.SIGNATURE_CINDEX_RANGE["test"]
    pc = paper.TABLE2.set_index(["model", "cohort"])["c_index"]
    printed = f"{lo:.3f}-{hi:.3f} vs {pc[('Model_clinic', 'test')]:.3f}"
    ref = _num((_cindex(m05, "test", "Model_clinic") or CIndex()).c_index)
    cs = [_num((_cindex(m05, "test", s) or CIndex()).c_index) for s in _SIGNATURES]
    if not math.isfinite(ref) or not any(math.isfinite(c) for c in cs):
        return _not_assessed("signatures_beat_clinic_test", claim, MODELS, printed,
                             "a C-index is not defined (constant scores)")
    ours = ", ".join(f"{s} {c:.3f}" for s, c in zip(_SIGNATURES, cs)) + f" vs Model_clinic {ref:.3f}"
    return _verdict("signatures_beat_clinic_test", claim, MODELS, printed, ours,
                    same_way=[c > ref for c in cs], tested=False)


# --------------------------------------------------------------------------- claims of chapters 06-08


def _risk_groups_verdict(m06: NomogramResults, cohort: str) -> ClaimVerdict:
    claim = ("High-risk group has shorter DFS, training cohort" if cohort == "train"
             else "High-risk group has shorter DFS, validated in the test cohort")
    r = paper.RISK_GROUPS.set_index("cohort").loc[cohort]
    printed = f"HR {r.hr:.2f}, p {r.p}"
    s = m06.risk_groups.get(cohort)
    if s is None:
        return _not_assessed(f"risk_groups_{cohort}", claim, NOMOGRAM, printed,
                             m06.risk_groups_skipped or "no risk groups")
    ours = f"HR {_num(s.hr):.2f}, log-rank p {format_p(s.logrank_p)}"
    return _verdict(f"risk_groups_{cohort}", claim, NOMOGRAM, printed, ours, same_way=[_group_same_way(s)],
                    p_values=[s.logrank_p], strong_printed=_paper_strong(r.p))


def fig3_verdict(m07: EndpointsResults | Mapping[str, Any]) -> ClaimVerdict:
    """Fig. 3: the locked risk groups separate OS, DMFS and LRFS (log-rank), in every cohort.

    ``m07``: chapter 07's results (:class:`~npc_lib.run.results.chapters.EndpointsResults`,
    or their JSON data), whose ``endpoints`` are ``{cohort: {endpoint:
    EndpointComparison}}``.

    Examples
    --------
    >>> r = {"hr": 3.0, "logrank_p": 0.01}
    >>> v = fig3_verdict({"endpoints": {"test": {"os": r, "dmfs": r, "lrfs": r}}})
    >>> v.verdict, v.as_strong
    ('held', False)
    """
    m07 = as_results(ENDPOINTS, m07)
    claim, printed = "Risk groups separate OS, DMFS and LRFS (Fig. 3)", "all p < 0.001"
    rows = [(c, e, r) for c, by in m07.endpoints.items() for e, r in by.items() if e.lower() in _SECONDARY]
    if not rows:
        return _not_assessed("fig3_secondary_endpoints", claim, ENDPOINTS, printed,
                             m07.skipped or "no secondary endpoint in this cohort")
    same = [_group_same_way(r) for _, _, r in rows]
    ps = [r.logrank_p for _, _, r in rows]
    n_sig = sum(s and _finite(p) and _num(p) < ALPHA for s, p in zip(same, ps))
    ours = f"{n_sig} of {len(rows)} higher risk with p < {ALPHA:g}: " + ", ".join(
        f"{e.upper()} {c} {format_p(p)}" for (c, e, _), p in zip(rows, ps))
    return _verdict("fig3_secondary_endpoints", claim, ENDPOINTS, printed, ours, same_way=same,
                    p_values=ps, strong_printed=True)


def figd2_verdict(m07: EndpointsResults | Mapping[str, Any]) -> ClaimVerdict:
    """Fig. D2: the risk groups stay prognostic (HR > 1, Wald p < 0.05) in every subgroup level of every cohort.

    ``m07``: chapter 07's results, whose ``subgroups`` are ``{cohort:
    {variable: {level: RiskGroupComparison}}}``. A level whose HR is not
    estimable has no p and does not count as significant.

    Examples
    --------
    >>> lv = {"yes": {"hr": 2.0, "p": 0.01}, "no": {"hr": 1.5, "p": 0.2}}
    >>> figd2_verdict({"subgroups": {"train": {"sex": lv}}}).verdict
    'not held'
    """
    m07 = as_results(ENDPOINTS, m07)
    claim, printed = "The nomogram stays prognostic in every subgroup (Fig. D2)", "significant in every subgroup"
    by_cohort = {c: [r for levels in by.values() for r in levels.values()] for c, by in m07.subgroups.items()}
    rows = [r for rs in by_cohort.values() for r in rs]
    if not rows:
        return _not_assessed("figD2_subgroups", claim, ENDPOINTS, printed,
                             m07.skipped or "no subgroup level with patients")
    same = [_group_same_way(r) for r in rows]
    ps = [r.p for r in rows]
    parts = []
    for c, rs in by_cohort.items():
        sig = sum(_group_same_way(r) and _finite(r.p) and _num(r.p) < ALPHA for r in rs)
        parts.append(f"{c}: {sig} of {len(rs)} levels with HR > 1, p < {ALPHA:g}")
    return _verdict("figD2_subgroups", claim, ENDPOINTS, printed, "; ".join(parts), same_way=same, p_values=ps)


def appendix_c_verdict(m08: RadiomicsResults | Mapping[str, Any]) -> ClaimVerdict:
    """Appendix C: handcrafted radiomics do worse than the DL signatures (test cohort; no test printed).

    Held when, in the test cohort, each DL signature's C-index exceeds the
    handcrafted signature's of its sequence and the best DL signature exceeds
    the combined handcrafted one; a handcrafted signature without a C-index
    (no feature selected: a constant score) counts as 0.5, no better than
    chance; a DL signature without one (constant) cannot beat anything.

    ``m08``: chapter 08's results, with ``cindex`` (``{HC_<seq>_sig /
    HC_combined_sig: {cohort: CIndex}}``) and ``dl_cindex`` (``{DL_<seq>_sig:
    {cohort: CIndex}}``).

    Examples
    --------
    >>> c = lambda v: {"test": {"c_index": v}}
    >>> m = {"cindex": {"HC_T1_sig": c(0.6), "HC_combined_sig": c(None)}, "dl_cindex": {"DL_T1_sig": c(0.7)}}
    >>> appendix_c_verdict(m).verdict
    'held'
    """
    m08 = as_results(RADIOMICS, m08)
    claim = "Handcrafted radiomics do worse than the DL signatures (Appendix C)"
    printed = "handcrafted features \"showed unsatisfactory results\" (no number)"
    if m08.skipped or not m08.cindex or not m08.dl_cindex:
        return _not_assessed("appendixC_handcrafted", claim, RADIOMICS, printed,
                             m08.skipped or "no handcrafted or DL C-index")

    def test_c(by: Mapping[str, Mapping[str, CIndex]], name: str, missing: float) -> float:
        v = _num((by.get(name, {}).get("test") or CIndex()).c_index)
        return v if math.isfinite(v) else missing

    seqs = [k[len("DL_"):-len("_sig")] for k in m08.dl_cindex]
    dl_c = {s: test_c(m08.dl_cindex, f"DL_{s}_sig", float("nan")) for s in seqs}
    hc_c = {s: test_c(m08.cindex, f"HC_{s}_sig", 0.5) for s in seqs}
    combined = test_c(m08.cindex, "HC_combined_sig", 0.5)
    best = max((v for v in dl_c.values() if math.isfinite(v)), default=float("nan"))
    same = [dl_c[s] > hc_c[s] for s in seqs] + [best > combined]
    ours = ("test C: DL " + ", ".join(f"{s} {dl_c[s]:.3f}" for s in seqs) + " vs handcrafted "
            + ", ".join(f"{s} {hc_c[s]:.3f}" for s in seqs) + f", combined {combined:.3f}")
    return _verdict("appendixC_handcrafted", claim, RADIOMICS, printed, ours, same_way=same, tested=False)


# --------------------------------------------------------------------------- all claims

_CLAIMS: list[tuple[str, Callable[[Any], ClaimVerdict]]] = [
    (MODELS, lambda m: _signatures_verdict(m, "train")),
    (MODELS, lambda m: _signatures_verdict(m, "test")),
    (MODELS, lambda m: _improves_verdict(m, "train")),
    (MODELS, lambda m: _improves_verdict(m, "test")),
    (MODELS, _beats_clinic_verdict),
    (NOMOGRAM, lambda m: _risk_groups_verdict(m, "train")),
    (NOMOGRAM, lambda m: _risk_groups_verdict(m, "test")),
    (ENDPOINTS, fig3_verdict),
    (ENDPOINTS, figd2_verdict),
    (RADIOMICS, appendix_c_verdict),
]


def claim_verdicts(results: Mapping[str, Any]) -> list[ClaimVerdict]:
    """The verdict of every claim, from the chapters' results.

    Parameters
    ----------
    results : mapping
        ``{chapter: that chapter's results}``: typed
        (:func:`npc_lib.run.results.read_all_results`) or their JSON data
        (:func:`npc_lib.run.reproduction.read_metrics`; checked on the way in).
        A claim whose chapter is absent is ``not assessed``.

    Examples
    --------
    >>> [v.verdict for v in claim_verdicts({})][:2]
    ['not assessed', 'not assessed']
    """
    out = []
    for chapter, decide in _CLAIMS:
        if chapter in results:
            out.append(decide(as_results(chapter, results[chapter])))
        else:  # every claim is "not assessed" on empty results; say why
            out.append(replace(decide(results_class(chapter)()), ours=f"chapter {chapter} did not run"))
    return out


def claim_verdicts_for_run(run_dir: str | Path) -> list[ClaimVerdict]:
    """:func:`claim_verdicts` of the run folder ``run_dir`` (its chapters' typed results)."""
    from npc_lib.run.results import read_all_results

    return claim_verdicts(read_all_results(run_dir))


def verdict_table(verdicts: Sequence[ClaimVerdict]) -> pd.DataFrame:
    """The verdicts as a table (one row per claim, the :class:`ClaimVerdict` fields as columns).

    Examples
    --------
    >>> list(verdict_table(claim_verdicts({})).columns)[:4]
    ['claim_id', 'claim', 'chapter', 'paper']
    """
    columns = list(ClaimVerdict.__dataclass_fields__)
    return pd.DataFrame([v.to_dict() for v in verdicts], columns=columns)
