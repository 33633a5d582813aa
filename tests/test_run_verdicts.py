"""Tests of npc_lib.run.verdicts: one rule per claim, decided from the chapters' results."""

import json
import math

import pytest

from npc_lib.run.verdicts import (ALPHA, STRONG, VERDICTS, ClaimVerdict, appendix_c_verdict, claim_verdicts,
                                  claim_verdicts_for_run, fig3_verdict, figd2_verdict, verdict_table)


def _c(c, p):
    return {"c_index": c, "lower": c - 0.05, "upper": c + 0.05, "p_value": p}


def _ep(hr, p, **kw):
    return {"hr": hr, "logrank_p": p, "n_high": 10, "n_low": 10, "events_high": 5, "events_low": 2, **kw}


@pytest.fixture
def metrics():
    sig = {s: _c(0.72, 1e-5) for s in ("DL_T1_sig", "DL_T2_sig", "DL_T1C_sig")}
    return {
        "05_models": {"cindex": {"train": {**sig, "Model_clinic": _c(0.64, 1e-3), "Model_clinic+dl": _c(0.75, 1e-6)},
                                 "test": {**sig, "Model_clinic": _c(0.62, 0.02), "Model_clinic+dl": _c(0.74, 1e-4)}},
                      "clinic_vs_dl": {"train": {"c_new": 0.75, "c_ref": 0.64, "p_value": 1e-4, "note": ""},
                                       "test": {"c_new": 0.74, "c_ref": 0.62, "p_value": 0.02, "note": ""}}},
        "06_nomogram": {"risk_groups": {"train": _ep(6.0, 1e-9), "test": _ep(3.0, 0.04)}},
        "07_endpoints_subgroups": {
            "endpoints": {c: {e: _ep(3.0, 1e-4) for e in ("os", "dmfs", "lrfs", "dfs")} for c in ("train", "test")},
            "subgroups": {c: {"sex": {"M": {"hr": 2.0, "p": 0.01}, "F": {"hr": 2.5, "p": 0.03}}}
                          for c in ("train", "test")}},
        "08_radiomics": {"cindex": {n: {"test": {"c_index": 0.6}} for n in ("HC_T1_sig", "HC_combined_sig")},
                         "dl_cindex": {"DL_T1_sig": {"test": {"c_index": 0.7}}}},
    }


def _by_id(verdicts):
    return {v.claim_id: v for v in verdicts}


def test_claim_verdicts_every_claim_once_with_its_chapter(metrics):
    v = claim_verdicts(metrics)
    assert len(v) == len({x.claim_id for x in v}) == 10
    assert {x.chapter for x in v} == {"05_models", "06_nomogram", "07_endpoints_subgroups", "08_radiomics"}
    assert all(x.verdict == "held" for x in v), [x for x in v if x.verdict != "held"]


def test_claim_verdicts_one_rule_p_below_alpha_and_same_direction(metrics):
    v = _by_id(claim_verdicts(metrics))
    assert v["risk_groups_test"].verdict == "held" and v["risk_groups_test"].p_value == pytest.approx(0.04)
    assert v["risk_groups_test"].as_strong is False and v["risk_groups_train"].as_strong is True  # paper: <0.001
    assert v["improves_test"].verdict == "held" and v["improves_test"].as_strong is None  # paper printed 0.001
    assert v["improves_train"].as_strong is True
    metrics["06_nomogram"]["risk_groups"]["test"] = _ep(0.5, 1e-6)  # significant the other way
    metrics["05_models"]["clinic_vs_dl"]["test"]["p_value"] = ALPHA  # not below the level
    v = _by_id(claim_verdicts(metrics))
    assert v["risk_groups_test"].verdict == "not held" and v["risk_groups_test"].held is False
    assert v["improves_test"].verdict == "not held"


def test_fig3_held_at_p_001_but_not_as_strong():
    """Chapter 07 and the reproduction report once disagreed on p = 0.01: one rule now."""
    v = fig3_verdict({"endpoints": {"test": {e: _ep(3.0, 0.01) for e in ("os", "dmfs", "lrfs")}}})
    assert v.verdict == "held" and v.as_strong is False and v.p_value == pytest.approx(0.01)
    strong = fig3_verdict({"endpoints": {"test": {e: _ep(3.0, STRONG / 2) for e in ("os", "dmfs", "lrfs")}}})
    assert strong.as_strong is True
    assert fig3_verdict({"endpoints": {"test": {"os": _ep(3.0, 0.2)}}}).verdict == "not held"
    assert fig3_verdict({"endpoints": {"test": {"dfs": _ep(3.0, 1e-9)}}}).verdict == "not assessed"  # DFS only


def test_fig3_group_without_event_keeps_its_direction():
    no_low_events = _ep(None, 0.003, events_low=0)  # HR not estimable: a higher event share in the high group
    assert fig3_verdict({"endpoints": {"test": {"os": no_low_events}}}).verdict == "held"
    no_high_events = _ep(None, 0.003, events_high=0)
    assert fig3_verdict({"endpoints": {"test": {"os": no_high_events}}}).verdict == "not held"


def test_figd2_not_estimable_level_is_not_significant():
    levels = {"M": {"hr": 2.0, "p": 0.01}, "F": {"hr": None, "p": None, "n_high": 3, "n_low": 0}}
    v = figd2_verdict({"subgroups": {"train": {"sex": levels}}})
    assert v.verdict == "not held" and "1 of 2 levels" in v.ours
    assert figd2_verdict({"subgroups": {}, "skipped": "no risk groups"}).ours == "no risk groups"


def test_appendix_c_constant_signatures():
    hc = {"HC_T1_sig": {"test": {"c_index": None}}, "HC_combined_sig": {"test": {"c_index": None}}}
    held = appendix_c_verdict({"cindex": hc, "dl_cindex": {"DL_T1_sig": {"test": {"c_index": 0.61}}}})
    assert held.verdict == "held" and held.p_value is None and held.as_strong is None  # no feature: C = 0.5
    constant_dl = appendix_c_verdict({"cindex": hc, "dl_cindex": {"DL_T1_sig": {"test": {"c_index": None}}}})
    assert constant_dl.verdict == "not held"
    assert appendix_c_verdict({"skipped": "no PyRadiomics"}).verdict == "not assessed"


def test_claim_verdicts_not_assessed_when_chapter_absent_or_skipped(metrics):
    del metrics["08_radiomics"]
    metrics["06_nomogram"] = {"risk_groups": {}, "risk_groups_skipped": "Model_clinic+dl has no covariate"}
    metrics["07_endpoints_subgroups"] = {"skipped": "Model_clinic+dl has no covariate", "endpoints": {},
                                         "subgroups": {}}
    v = _by_id(claim_verdicts(metrics))
    assert v["appendixC_handcrafted"].verdict == "not assessed"
    assert v["appendixC_handcrafted"].ours == "chapter 08_radiomics did not run"
    assert v["appendixC_handcrafted"].paper.startswith("handcrafted features")
    for k in ("risk_groups_train", "risk_groups_test", "fig3_secondary_endpoints", "figD2_subgroups"):
        assert v[k].verdict == "not assessed" and v[k].held is None and "no covariate" in v[k].ours, k


def test_claim_verdict_checks_its_fields():
    with pytest.raises(ValueError, match="verdict must be one of"):
        ClaimVerdict("x", "c", "05_models", "p", "o", "maybe", None)
    with pytest.raises(ValueError, match="disagree"):
        ClaimVerdict("x", "c", "05_models", "p", "o", "held", False)


def test_verdict_table_and_for_run(metrics, tmp_path):
    for chapter, m in metrics.items():
        (tmp_path / chapter).mkdir()
        (tmp_path / chapter / "metrics.json").write_text(json.dumps(m))
    from_run = claim_verdicts_for_run(tmp_path)
    assert [v.to_dict() for v in from_run] == [v.to_dict() for v in claim_verdicts(metrics)]
    t = verdict_table(from_run)
    assert list(t.columns) == ["claim_id", "claim", "chapter", "paper", "ours", "verdict", "held", "as_strong",
                               "p_value"]
    assert set(t["verdict"]) <= set(VERDICTS) and not math.isnan(t["p_value"].iloc[0])
