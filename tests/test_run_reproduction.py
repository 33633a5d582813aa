"""Tests of npc_lib.run.reproduction: the A21 report from metrics files."""

import json

import pytest

from npc_lib import paper
from npc_lib.run.reproduction import abstract_verdicts, read_metrics, reproduction_table


def _c(c, lo, hi, p):
    return {"c_index": c, "lower": lo, "upper": hi, "p_value": p}


@pytest.fixture
def metrics():
    good = {m: _c(0.75, 0.70, 0.80, 1e-5) for m in ("DL_T1_sig", "DL_T2_sig", "DL_T1C_sig", "Model_clinic+dl")}
    return {
        "02_table1": {"p_values": {"age": 0.3, "sex": 0.9}},
        "04_signatures": {"crossval_c_index": [0.69, 0.70, 0.72]},
        "05_models": {
            "cindex": {"train": {**good, "Model_clinic": _c(0.64, 0.6, 0.7, 1e-3)},
                       "test": {**good, "DL_T2_sig": _c(0.6, 0.5, 0.7, 0.08), "Model_clinic": _c(0.62, 0.5, 0.7, 0.02)}},
            "clinic_vs_dl": {"train": {"c_new": 0.75, "c_ref": 0.64, "p_value": 1e-4},
                             "test": {"c_new": 0.75, "c_ref": 0.62, "p_value": 0.2}},
            "model_clinic": {"selected_source": list(paper.MODEL_CLINIC_COVARIATES)},
            "model_clinic_dl": {"selected_source": ["age"]},
            "oracle_test": {"truth: lp_total": 0.83},
        },
        "06_nomogram": {"risk_groups": {"train": {"hr": 6.0, "hr_lower": 4.0, "hr_upper": 9.0, "logrank_p": 1e-9,
                                                  "surv_high": 0.6, "surv_low": 0.9},
                                        "test": {"hr": 0.9, "hr_lower": 0.5, "hr_upper": 1.6, "logrank_p": 0.7,
                                                 "surv_high": None, "surv_low": 0.9}}},
    }


def test_reproduction_table_values_and_ci(metrics):
    t = reproduction_table(metrics).set_index("quantity")
    assert t.loc["p, age", "ours"] == "0.30" and t.loc["p, hgb", "note"] == "not computed"
    assert t.loc["C-index, DL_T1_sig, train", "inside_paper_ci"] is True
    assert t.loc["C-index, DL_T2_sig, test", "inside_paper_ci"] is False  # 0.600 < 0.609
    assert t.loc["C-index, Model_clinic+dl, test", "oracle"] == "0.830"
    assert t.loc["covariates kept, Model_clinic", "note"] == "same set"
    assert t.loc["covariates kept, Model_clinic+dl", "note"] == "differs"
    assert t.loc["HR high vs low, test", "inside_paper_ci"] is False
    assert t.loc["5-year DFS, high risk, test", "ours"] == "NA"
    assert t.loc["held-out C-index range", "ours"].startswith("0.690-0.720")


def test_abstract_verdicts_rules(metrics):
    v = abstract_verdicts(metrics).set_index("claim")["verdict"]
    assert v["Each DL signature correlates with DFS in the training cohort"] == "held"
    assert v["Each DL signature correlates with DFS in the test cohort"] == "not held"  # T2 p = 0.08
    assert v["Model_clinic+dl improves on Model_clinic, training cohort"] == "held"
    assert v["Model_clinic+dl improves on Model_clinic, test cohort"] == "not held"
    assert v["Each DL signature beats Model_clinic in the test cohort"] == "not held"  # T2 0.60 < 0.62
    assert v["High-risk group has shorter DFS, training cohort"] == "held"
    assert v["High-risk group has shorter DFS, validated in the test cohort"] == "not held"
    assert v["Risk groups separate OS, DMFS and LRFS (Fig. 3)"] == "not assessed"


def test_read_metrics_reads_each_chapter(tmp_path):
    (tmp_path / "01_cohort").mkdir()
    (tmp_path / "01_cohort" / "metrics.json").write_text(json.dumps({"n": 3}))
    (tmp_path / "notebooks").mkdir()
    assert read_metrics(tmp_path) == {"01_cohort": {"n": 3}}
    (tmp_path / "01_cohort" / "metrics.json").write_text("{")
    with pytest.raises(ValueError, match="not JSON"):
        read_metrics(tmp_path)
    with pytest.raises(ValueError, match="not a folder"):
        read_metrics(tmp_path / "none")


def test_abstract_verdicts_subgroups_need_every_cohort(metrics):
    lvl = {"hr": 2.0, "p": 0.01}
    metrics["07_endpoints_subgroups"] = {
        "subgroups": {"train": {"sex": {"M": lvl, "F": lvl}}, "test": {"sex": {"M": lvl, "F": {"hr": 2.0, "p": 0.3}}}},
        "endpoints": {"train": {"os": {"hr": 3.0, "logrank_p": 1e-4}, "dfs": {"hr": 3.0, "logrank_p": 1e-5}},
                      "test": {"os": {"hr": 3.0, "logrank_p": 0.01}}}}
    v = abstract_verdicts(metrics).set_index("claim")
    assert v.loc["The nomogram stays prognostic in every subgroup (Fig. D2)", "verdict"] == "not held"
    assert v.loc["Risk groups separate OS, DMFS and LRFS (Fig. 3)", "verdict"] == "held"  # p = 0.01 < 0.05
    assert v.loc["Risk groups separate OS, DMFS and LRFS (Fig. 3)", "as_strong"] is False  # the paper: p < 0.001
    rows = reproduction_table(metrics).set_index("quantity")
    assert rows.loc["log-rank p, OS, test", "ours"] == "0.010" and "log-rank p, DFS, train" not in rows.index
