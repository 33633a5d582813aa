"""Self-consistency of the transcription of the paper's numbers (npc_lib.paper)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from npc_lib import paper
from npc_lib.cohort import schema
from npc_lib.stats.table1 import compare_categorical, table1

from cohort_factory import tiny_clinical


def test_cohort_counts_add_up():
    c = paper.COHORT
    assert c["n_train"] + c["n_test"] == c["n"] == 638
    assert c["n_male"] + c["n_female"] == c["n"]
    t1 = paper.TABLE1.set_index(["variable", "level"])
    assert t1.loc[("sex", "Male"), "train_count"] + t1.loc[("sex", "Male"), "test_count"] == c["n_male"]
    assert min(t1["train_min"].min(), t1.loc[("age", "median (range)"), "test_min"]) <= c["age_min"]
    assert t1.loc[("age", "median (range)"), ["train_max", "test_max"]].max() == c["age_max"]
    p = paper.TABLE1.groupby("variable")["p_value"].first()
    assert (p.min(), p.max()) == c["table1_p_range"]


def test_table1_keys_match_table1_function():
    rng = np.random.default_rng(0)
    df = tiny_clinical(40, seed=1)
    ours = table1(df, rng.permutation(np.repeat(["train", "test"], 20)))
    assert list(zip(ours["variable"], ours["level"])) == list(zip(paper.TABLE1["variable"], paper.TABLE1["level"]))


def test_table1_categorical_counts_and_percentages():
    cat = paper.TABLE1[paper.TABLE1["kind"] == "categorical"]
    for group, n in (("train", 447), ("test", 191)):
        sums = cat.groupby("variable")[f"{group}_count"].sum()
        assert (sums == n).all(), sums[sums != n]
        pct = 100 * cat[f"{group}_count"].astype(float) / n
        assert np.abs(pct - cat[f"{group}_percent"]).max() <= 0.05 + 1e-9


def test_table1_continuous_ranges_ordered():
    cont = paper.TABLE1[paper.TABLE1["kind"] == "continuous"]
    assert len(cont) == 6
    for g in ("train", "test"):
        assert (cont[f"{g}_min"] <= cont[f"{g}_median"]).all()
        assert (cont[f"{g}_median"] <= cont[f"{g}_max"]).all()


def _count_table(variable: str) -> np.ndarray:
    rows = paper.TABLE1[paper.TABLE1["variable"] == variable]
    return rows[["train_count", "test_count"]].to_numpy(dtype=np.int64)


def test_table1_categorical_p_values_reproduced_from_counts():
    # The printed p-values are Yates-corrected chi-square p's; the paper sent
    # a table to Fisher only on an OBSERVED count < 5 (WHO type has an
    # expected count of 4.79 and is printed with the chi-square p). Smoking's
    # p is 0.4149, printed 0.42 (rounded via 0.415), hence the 0.006 tolerance.
    cat = paper.TABLE1[paper.TABLE1["kind"] == "categorical"].groupby("variable", sort=False)["p_value"].first()
    for variable, printed in cat.items():
        r = compare_categorical(_count_table(variable), small_cell="observed")
        assert r.p_value == pytest.approx(printed, abs=0.006), variable
        r_exp = compare_categorical(_count_table(variable), small_cell="expected")
        if variable == "who_type":
            assert r_exp.method == "Fisher exact" and r_exp.p_value == pytest.approx(0.27, abs=0.005)
            assert abs(r_exp.p_value - printed) > 0.05
        else:
            assert r_exp.p_value == r.p_value


def test_events_consistent():
    for g in ("train", "test"):
        e = paper.EVENTS[g]
        assert round(100 * e["events"] / e["n"], 1) == e["percent"]
        assert e["n"] == paper.COHORT[f"n_{g}"]
    t = [[paper.EVENTS["train"]["events"], paper.EVENTS["test"]["events"]],
         [447 - paper.EVENTS["train"]["events"], 191 - paper.EVENTS["test"]["events"]]]
    assert round(stats.chi2_contingency(t).pvalue, 2) == float(paper.EVENTS["p"])


def test_table2_ci_and_z_test_consistent():
    t2 = paper.TABLE2
    assert len(t2) == 10 and set(t2["cohort"]) == {"train", "test"}
    assert ((t2["ci_lower"] < t2["c_index"]) & (t2["c_index"] < t2["ci_upper"])).all()
    # Noether CI is C -/+ 1.96 se: symmetric to print precision
    assert np.abs((t2["c_index"] - t2["ci_lower"]) - (t2["ci_upper"] - t2["c_index"])).max() <= 0.0015
    # the printed p is the two-sided Z-test against 0.5 with that se
    se = (t2["ci_upper"] - t2["ci_lower"]) / (2 * stats.norm.ppf(0.975))
    p = 2 * stats.norm.sf((t2["c_index"] - 0.5) / se)
    for (_, row), p_calc in zip(t2.iterrows(), p):
        if row["p_is_upper_bound"]:
            assert p_calc < row["p_value"]
        else:
            assert p_calc == pytest.approx(row["p_value"], abs=0.0015)


def test_signature_ranges_match_table2():
    sig = paper.TABLE2[paper.TABLE2["model"].str.startswith("DL_")]
    for g in ("train", "test"):
        c = sig.loc[sig["cohort"] == g, "c_index"]
        assert (c.min(), c.max()) == paper.SIGNATURE_CINDEX_RANGE[g]
    lo, hi = paper.CV_CINDEX_RANGE
    assert 0.5 < lo < hi < 1


def test_clinic_vs_dl():
    t2 = paper.TABLE2.set_index(["model", "cohort"])["c_index"]
    for g in ("train", "test"):
        assert t2[("Model_clinic+dl", g)] > t2[("Model_clinic", g)]
        assert paper.parse_p(paper.CLINIC_VS_DL_P[g])[0] <= 0.001


def test_risk_groups_consistent():
    rg = paper.RISK_GROUPS
    assert list(rg["cohort"]) == ["train", "test"]
    assert ((rg["hr_lower"] < rg["hr"]) & (rg["hr"] < rg["hr_upper"])).all()
    # log-symmetric Wald CI to print precision
    lower, upper = np.log(rg["hr"] / rg["hr_lower"]), np.log(rg["hr_upper"] / rg["hr"])
    assert np.abs(lower - upper).max() < 0.01
    assert (rg["dfs5_high"] < rg["dfs5_low"]).all()
    assert paper.RISK_CUTOFF == {"score": 0.398, "points": 180}


def test_model_covariates_are_known_names():
    signatures = {"DL_T1_sig", "DL_T2_sig", "DL_T1C_sig"}
    known = set(schema.CLINICAL_COLUMNS) | signatures
    assert set(paper.MODEL_CLINIC_COVARIATES) <= set(schema.CONTINUOUS) | set(schema.CATEGORIES)
    assert set(paper.MODEL_CLINIC_DL_COVARIATES) <= known
    assert signatures <= set(paper.MODEL_CLINIC_DL_COVARIATES)
    assert set(paper.UNIVARIATE_SIGNIFICANT) <= set(paper.MODEL_CLINIC_COVARIATES)


def test_figure2_example_consistent():
    ex = paper.FIGURE2_EXAMPLE
    assert sum(ex["points_printed"]) == ex["total_points"] == 212
    assert tuple(ex["points"].values()) == ex["points_printed"]
    assert list(ex["points"]) == list(ex["inputs"])
    assert set(ex["inputs"]) == set(paper.MODEL_CLINIC_DL_COVARIATES)
    assert ex["total_points"] > paper.RISK_CUTOFF["points"]  # a high-risk patient
    assert 0 < ex["dfs_5y"] < ex["dfs_3y"] < 1


def test_follow_up_ordered():
    f = paper.FOLLOW_UP
    assert f["q1_years"] < f["median_years"] < f["q3_years"]


def test_parse_p_bad_input():
    with pytest.raises(ValueError, match="not a printed p-value: 'n.s.'"):
        paper.parse_p("n.s.")


def test_tables_are_dataframes():
    assert isinstance(paper.TABLE1, pd.DataFrame) and isinstance(paper.TABLE2, pd.DataFrame)
    assert paper.TABLE1["train_count"].dtype == "Int64"
