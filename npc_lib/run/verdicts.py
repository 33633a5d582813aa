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
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import pandas as pd

from npc_lib import paper
from npc_lib.report import format_p

#: significance level of every claim ("significant" = p below it)
ALPHA = 0.05
#: the paper's smallest printed p ("p < 0.001"): the second column asks whether ours is as strong
STRONG = 0.001
#: the rule, as the book states it
RULE = (f"A claim holds when our estimate points the same way as the paper's and its p-value is below {ALPHA:g}; "
        f"where the paper printed p < {STRONG:g}, a second column says whether ours is as strong. A claim that "
        "compares estimates without a test holds when ours are ordered the same way. A claim whose chapter did "
        "not run, or could not compute what it needs, is not assessed.")
#: the three verdicts
VERDICTS = ("held", "not held", "not assessed")
_SIGNATURES = ("DL_T1_sig", "DL_T2_sig", "DL_T1C_sig")
_SECONDARY = ("os", "dmfs", "lrfs")


@dataclass(frozen=True)
class ClaimVerdict:
    """One claim of the paper and its verdict on a run.

    Attributes
    ----------
    claim_id : str
        Stable identifier (``"fig3_secondary_endpoints"``).
    claim : str
        The claim in words.
    chapter : str
        The chapter whose results decide it (``"07_endpoints_subgroups"``).
    paper : str
        What the paper printed.
    ours : str
        Our numbers behind the verdict, or why it was not assessed.
    verdict : {"held", "not held", "not assessed"}
    held : bool or None
        ``None`` when not assessed.
    as_strong : bool or None
        Where the paper printed p < 0.001: whether every p of ours is below
        0.001 too (and the direction agrees); ``None`` otherwise.
    p_value : float or None
        The deciding p-value (the largest of those the claim needs), if any.
    """

    claim_id: str
    claim: str
    chapter: str
    paper: str
    ours: str
    verdict: str
    held: bool | None
    as_strong: bool | None = None
    p_value: float | None = None

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")
        if (self.verdict == "not assessed") != (self.held is None) or (
                self.held is not None and self.held != (self.verdict == "held")):
            raise ValueError(f"claim {self.claim_id!r}: verdict {self.verdict!r} and held={self.held!r} disagree")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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


def _group_same_way(r: Mapping[str, Any]) -> bool:
    """High-risk group worse: HR > 1, or (HR not estimable) a larger event share in the high-risk group."""
    if _finite(r.get("hr")):
        return _num(r.get("hr")) > 1
    n_hi, n_lo = _num(r.get("n_high")), _num(r.get("n_low"))
    if not (n_hi > 0 and n_lo > 0):
        return False
    return _num(r.get("events_high")) / n_hi > _num(r.get("events_low")) / n_lo


# --------------------------------------------------------------------------- claims of chapter 05


def _cindex(m05: Mapping, cohort: str, model: str) -> Mapping:
    return ((m05.get("cindex") or {}).get(cohort) or {}).get(model) or {}


def _signatures_verdict(m05: Mapping, cohort: str) -> ClaimVerdict:
    claim = f"Each DL signature correlates with DFS in the {'training' if cohort == 'train' else 'test'} cohort"
    lo, hi = paper.SIGNATURE_CINDEX_RANGE[cohort]
    t2 = paper.TABLE2[(paper.TABLE2["cohort"] == cohort) & paper.TABLE2["model"].str.startswith("DL_")]
    printed = f"C {lo:.3f}-{hi:.3f}, p {', '.join(sorted(set(t2['p'])))}"
    rows = [_cindex(m05, cohort, s) for s in _SIGNATURES]
    if not any(rows):
        return _not_assessed(f"signatures_{cohort}", claim, "05_models", printed, "no signature has a C-index")
    ours = ", ".join(f"{s} {_num(r.get('c_index')):.3f} (p {format_p(r.get('p_value'))})" for s, r in
                     zip(_SIGNATURES, rows))
    return _verdict(f"signatures_{cohort}", claim, "05_models", printed, ours,
                    same_way=[_num(r.get("c_index")) > 0.5 for r in rows], p_values=[r.get("p_value") for r in rows],
                    strong_printed=_paper_strong(list(t2["p"])))


def _improves_verdict(m05: Mapping, cohort: str) -> ClaimVerdict:
    claim = f"Model_clinic+dl improves on Model_clinic, {'training' if cohort == 'train' else 'test'} cohort"
    pc = paper.TABLE2.set_index(["model", "cohort"])["c_index"]
    printed = (f"{pc[('Model_clinic+dl', cohort)]:.3f} vs {pc[('Model_clinic', cohort)]:.3f}, "
               f"p {paper.CLINIC_VS_DL_P[cohort]}")
    r = (m05.get("clinic_vs_dl") or {}).get(cohort) or {}
    if not r:
        return _not_assessed(f"improves_{cohort}", claim, "05_models", printed, "no comparison of the two models")
    ours = f"{_num(r.get('c_new')):.3f} vs {_num(r.get('c_ref')):.3f}, p {format_p(r.get('p_value'))}"
    if r.get("note"):
        ours += f" ({r['note']})"
    return _verdict(f"improves_{cohort}", claim, "05_models", printed, ours,
                    same_way=[_num(r.get("c_new")) > _num(r.get("c_ref"))], p_values=[r.get("p_value")],
                    strong_printed=_paper_strong(paper.CLINIC_VS_DL_P[cohort]))


def _beats_clinic_verdict(m05: Mapping) -> ClaimVerdict:
    claim = "Each DL signature beats Model_clinic in the test cohort"
    lo, hi = paper.SIGNATURE_CINDEX_RANGE["test"]
    pc = paper.TABLE2.set_index(["model", "cohort"])["c_index"]
    printed = f"{lo:.3f}-{hi:.3f} vs {pc[('Model_clinic', 'test')]:.3f}"
    ref = _num(_cindex(m05, "test", "Model_clinic").get("c_index"))
    cs = [_num(_cindex(m05, "test", s).get("c_index")) for s in _SIGNATURES]
    if not math.isfinite(ref) or not any(math.isfinite(c) for c in cs):
        return _not_assessed("signatures_beat_clinic_test", claim, "05_models", printed,
                             "a C-index is not defined (constant scores)")
    ours = ", ".join(f"{s} {c:.3f}" for s, c in zip(_SIGNATURES, cs)) + f" vs Model_clinic {ref:.3f}"
    return _verdict("signatures_beat_clinic_test", claim, "05_models", printed, ours,
                    same_way=[c > ref for c in cs], tested=False)


# --------------------------------------------------------------------------- claims of chapters 06-08


def _risk_groups_verdict(m06: Mapping, cohort: str) -> ClaimVerdict:
    claim = ("High-risk group has shorter DFS, training cohort" if cohort == "train"
             else "High-risk group has shorter DFS, validated in the test cohort")
    r = paper.RISK_GROUPS.set_index("cohort").loc[cohort]
    printed = f"HR {r.hr:.2f}, p {r.p}"
    s = (m06.get("risk_groups") or {}).get(cohort)
    if not s:
        return _not_assessed(f"risk_groups_{cohort}", claim, "06_nomogram", printed,
                             m06.get("risk_groups_skipped") or "no risk groups")
    ours = f"HR {_num(s.get('hr')):.2f}, log-rank p {format_p(s.get('logrank_p'))}"
    return _verdict(f"risk_groups_{cohort}", claim, "06_nomogram", printed, ours, same_way=[_group_same_way(s)],
                    p_values=[s.get("logrank_p")], strong_printed=_paper_strong(r.p))


def fig3_verdict(m07: Mapping[str, Any]) -> ClaimVerdict:
    """Fig. 3: the locked risk groups separate OS, DMFS and LRFS (log-rank), in every cohort.

    ``m07`` holds ``endpoints``: ``{cohort: {endpoint: {hr, logrank_p,
    n_high, n_low, events_high, events_low}}}`` (chapter 07's results).

    Examples
    --------
    >>> r = {"hr": 3.0, "logrank_p": 0.01}
    >>> v = fig3_verdict({"endpoints": {"test": {"os": r, "dmfs": r, "lrfs": r}}})
    >>> v.verdict, v.as_strong
    ('held', False)
    """
    claim, printed = "Risk groups separate OS, DMFS and LRFS (Fig. 3)", "all p < 0.001"
    rows = [(c, e, r) for c, by in (m07.get("endpoints") or {}).items() for e, r in (by or {}).items()
            if e.lower() in _SECONDARY]
    if not rows:
        return _not_assessed("fig3_secondary_endpoints", claim, "07_endpoints_subgroups", printed,
                             m07.get("skipped") or "no secondary endpoint in this cohort")
    same = [_group_same_way(r) for _, _, r in rows]
    ps = [r.get("logrank_p") for _, _, r in rows]
    n_sig = sum(s and _finite(p) and _num(p) < ALPHA for s, p in zip(same, ps))
    ours = f"{n_sig} of {len(rows)} higher risk with p < {ALPHA:g}: " + ", ".join(
        f"{e.upper()} {c} {format_p(p)}" for (c, e, _), p in zip(rows, ps))
    return _verdict("fig3_secondary_endpoints", claim, "07_endpoints_subgroups", printed, ours, same_way=same,
                    p_values=ps, strong_printed=True)


def figd2_verdict(m07: Mapping[str, Any]) -> ClaimVerdict:
    """Fig. D2: the risk groups stay prognostic (HR > 1, Wald p < 0.05) in every subgroup level of every cohort.

    ``m07`` holds ``subgroups``: ``{cohort: {variable: {level: {hr, p,
    n_high, n_low, events_high, events_low}}}}``. A level whose HR is not
    estimable has no p and does not count as significant.

    Examples
    --------
    >>> lv = {"yes": {"hr": 2.0, "p": 0.01}, "no": {"hr": 1.5, "p": 0.2}}
    >>> figd2_verdict({"subgroups": {"train": {"sex": lv}}}).verdict
    'not held'
    """
    claim, printed = "The nomogram stays prognostic in every subgroup (Fig. D2)", "significant in every subgroup"
    by_cohort = {c: [r for levels in (by or {}).values() for r in (levels or {}).values()]
                 for c, by in (m07.get("subgroups") or {}).items()}
    rows = [r for rs in by_cohort.values() for r in rs]
    if not rows:
        return _not_assessed("figD2_subgroups", claim, "07_endpoints_subgroups", printed,
                             m07.get("skipped") or "no subgroup level with patients")
    same = [_group_same_way(r) for r in rows]
    ps = [r.get("p") for r in rows]
    parts = []
    for c, rs in by_cohort.items():
        sig = sum(_group_same_way(r) and _finite(r.get("p")) and _num(r.get("p")) < ALPHA for r in rs)
        parts.append(f"{c}: {sig} of {len(rs)} levels with HR > 1, p < {ALPHA:g}")
    return _verdict("figD2_subgroups", claim, "07_endpoints_subgroups", printed, "; ".join(parts), same_way=same,
                    p_values=ps)


def appendix_c_verdict(m08: Mapping[str, Any]) -> ClaimVerdict:
    """Appendix C: handcrafted radiomics do worse than the DL signatures (test cohort; no test printed).

    Held when, in the test cohort, each DL signature's C-index exceeds the
    handcrafted signature's of its sequence and the best DL signature exceeds
    the combined handcrafted one; a handcrafted signature without a C-index
    (no feature selected: a constant score) counts as 0.5, no better than
    chance; a DL signature without one (constant) cannot beat anything.

    ``m08`` holds ``cindex`` (``{HC_<seq>_sig / HC_combined_sig: {cohort:
    {c_index}}}``) and ``dl_cindex`` (``{DL_<seq>_sig: {cohort: {c_index}}}``).

    Examples
    --------
    >>> c = lambda v: {"test": {"c_index": v}}
    >>> m = {"cindex": {"HC_T1_sig": c(0.6), "HC_combined_sig": c(None)}, "dl_cindex": {"DL_T1_sig": c(0.7)}}
    >>> appendix_c_verdict(m).verdict
    'held'
    """
    claim = "Handcrafted radiomics do worse than the DL signatures (Appendix C)"
    printed = "handcrafted features \"showed unsatisfactory results\" (no number)"
    hc, dl = m08.get("cindex") or {}, m08.get("dl_cindex") or {}
    if m08.get("skipped") or not hc or not dl:
        return _not_assessed("appendixC_handcrafted", claim, "08_radiomics", printed,
                             m08.get("skipped") or "no handcrafted or DL C-index")

    def test_c(by: Mapping, name: str, missing: float) -> float:
        v = _num(((by.get(name) or {}).get("test") or {}).get("c_index"))
        return v if math.isfinite(v) else missing

    seqs = [k[len("DL_"):-len("_sig")] for k in dl]
    dl_c = {s: test_c(dl, f"DL_{s}_sig", float("nan")) for s in seqs}
    hc_c = {s: test_c(hc, f"HC_{s}_sig", 0.5) for s in seqs}
    combined = test_c(hc, "HC_combined_sig", 0.5)
    best = max((v for v in dl_c.values() if math.isfinite(v)), default=float("nan"))
    same = [dl_c[s] > hc_c[s] for s in seqs] + [best > combined]
    ours = ("test C: DL " + ", ".join(f"{s} {dl_c[s]:.3f}" for s in seqs) + " vs handcrafted "
            + ", ".join(f"{s} {hc_c[s]:.3f}" for s in seqs) + f", combined {combined:.3f}")
    return _verdict("appendixC_handcrafted", claim, "08_radiomics", printed, ours, same_way=same, tested=False)


# --------------------------------------------------------------------------- all claims

_CLAIMS: list[tuple[str, Callable[[Mapping], ClaimVerdict]]] = [
    ("05_models", lambda m: _signatures_verdict(m, "train")),
    ("05_models", lambda m: _signatures_verdict(m, "test")),
    ("05_models", lambda m: _improves_verdict(m, "train")),
    ("05_models", lambda m: _improves_verdict(m, "test")),
    ("05_models", _beats_clinic_verdict),
    ("06_nomogram", lambda m: _risk_groups_verdict(m, "train")),
    ("06_nomogram", lambda m: _risk_groups_verdict(m, "test")),
    ("07_endpoints_subgroups", fig3_verdict),
    ("07_endpoints_subgroups", figd2_verdict),
    ("08_radiomics", appendix_c_verdict),
]


def claim_verdicts(metrics: Mapping[str, Mapping[str, Any]]) -> list[ClaimVerdict]:
    """The verdict of every claim, from the chapters' results.

    Parameters
    ----------
    metrics : mapping
        ``{chapter name: that chapter's results}`` (:func:`npc_lib.run.reproduction.read_metrics`);
        a claim whose chapter is absent is ``not assessed``.

    Examples
    --------
    >>> [v.verdict for v in claim_verdicts({})][:2]
    ['not assessed', 'not assessed']
    """
    out = []
    for chapter, decide in _CLAIMS:
        if chapter in metrics:
            out.append(decide(metrics[chapter]))
        else:  # every claim is "not assessed" on empty results; say why
            out.append(replace(decide({}), ours=f"chapter {chapter} did not run"))
    return out


def claim_verdicts_for_run(run_dir: str | Path) -> list[ClaimVerdict]:
    """:func:`claim_verdicts` of the run folder ``run_dir`` (its chapters' ``metrics.json``)."""
    from npc_lib.run.reproduction import read_metrics

    return claim_verdicts(read_metrics(run_dir))


def verdict_table(verdicts: Sequence[ClaimVerdict]) -> pd.DataFrame:
    """The verdicts as a table (one row per claim, the :class:`ClaimVerdict` fields as columns).

    Examples
    --------
    >>> list(verdict_table(claim_verdicts({})).columns)[:4]
    ['claim_id', 'claim', 'chapter', 'paper']
    """
    columns = list(ClaimVerdict.__dataclass_fields__)
    return pd.DataFrame([v.to_dict() for v in verdicts], columns=columns)
