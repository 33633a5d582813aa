"""Tests of npc_lib.stats.table1 (analysis A2)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from npc_lib.cohort import schema
from npc_lib.stats.table1 import (
    TABLE1_ROWS,
    Cut,
    Recode,
    SexSpecificCut,
    Table1Row,
    compare_categorical,
    compare_continuous,
    table1,
    table1_groups,
    table1_numbers,
)


def _clinical(n: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "patient_id": [f"P{i:03d}" for i in range(n)],
        "age": rng.integers(18, 70, n).astype(float),
        "sex": rng.choice(["M", "F"], n, p=[0.7, 0.3]),
        "hgb": rng.normal(140, 14, n).round(0),
        "family_history": rng.choice(["yes", "no"], n),
        "smoking": rng.choice(["yes", "no"], n),
        "drinking": rng.choice(["yes", "no"], n, p=[0.1, 0.9]),
        "who_type": rng.choice(["III", "I-II"], n, p=[0.97, 0.03]),
        "alb": rng.normal(44.5, 3, n).round(1),
        "crp": rng.lognormal(0.5, 1.0, n).round(2),
        "ldh": rng.lognormal(np.log(176), 0.25, n).round(1),
        "ebv_dna": rng.lognormal(np.log(3000), 2.0, n).round(0),
    })


def _groups(n: int, n_train: int) -> np.ndarray:
    return np.where(np.arange(n) < n_train, "train", "test")


def _r_wilcox_normal_p(x: np.ndarray, y: np.ndarray) -> float:
    """R's wilcox.test(x, y, correct=TRUE) normal approximation, written out naively."""
    nx, ny = len(x), len(y)
    r = stats.rankdata(np.concatenate([x, y]))
    w = r[:nx].sum() - nx * (nx + 1) / 2
    _, nties = np.unique(r, return_counts=True)
    z = w - nx * ny / 2
    sigma = np.sqrt(nx * ny / 12 * ((nx + ny + 1) - np.sum(nties**3 - nties) / ((nx + ny) * (nx + ny - 1))))
    z = (z - np.sign(z) * 0.5) / sigma
    return float(2 * min(stats.norm.cdf(z), stats.norm.sf(z)))


# --------------------------------------------------------------------------- continuous


def test_compare_continuous_normal_uses_welch():
    rng = np.random.default_rng(1)
    x, y = rng.normal(0, 1, 80), rng.normal(0.4, 2, 40)
    r = compare_continuous(x, y)
    assert r.method == "Welch t-test"
    assert min(r.normality_p) > 0.05
    assert r.p_value == pytest.approx(stats.ttest_ind(x, y, equal_var=False).pvalue, rel=1e-12)
    # Welch, not the pooled-variance t-test
    assert r.p_value != pytest.approx(stats.ttest_ind(x, y).pvalue, rel=1e-3)


def test_compare_continuous_skewed_uses_wilcoxon_normal_approx():
    rng = np.random.default_rng(2)
    x, y = rng.lognormal(0, 1, 300), rng.lognormal(0.2, 1, 120)
    r = compare_continuous(x, y)
    assert r.method == "Wilcoxon rank-sum (normal approx.)"
    expected = stats.mannwhitneyu(x, y, alternative="two-sided", use_continuity=True, method="asymptotic")
    assert r.p_value == pytest.approx(expected.pvalue, rel=1e-12)
    assert r.p_value == pytest.approx(_r_wilcox_normal_p(x, y), rel=1e-10)


def test_compare_continuous_ties_use_tie_corrected_normal_approx():
    x = np.array([1, 2, 2, 3, 5, 8, 13, 40.0])
    y = np.array([2, 3, 3, 4, 9, 30, 60, 61, 90.0])
    r = compare_continuous(x, y)
    assert r.method == "Wilcoxon rank-sum (normal approx.)"
    assert r.p_value == pytest.approx(_r_wilcox_normal_p(x, y), rel=1e-10)


def test_compare_continuous_small_no_ties_exact():
    x = np.array([0.1, 0.3, 0.2, 5.0, 9.0, 0.25])
    y = np.array([1.1, 1.3, 2.2, 1.7, 40.0])
    r = compare_continuous(x, y)
    assert r.method == "Wilcoxon rank-sum (exact)"
    assert r.p_value == pytest.approx(stats.mannwhitneyu(x, y, method="exact").pvalue, rel=1e-12)


def test_compare_continuous_alpha_normal_decides():
    rng = np.random.default_rng(3)
    x, y = rng.normal(0, 1, 60), rng.normal(0, 1, 60)
    assert compare_continuous(x, y).method == "Welch t-test"
    assert compare_continuous(x, y, alpha_normal=0.9999).method.startswith("Wilcoxon")


def test_compare_continuous_constant_group_no_warning():
    r = compare_continuous(np.full(10, 3.0), np.arange(10.0))
    assert np.isnan(r.normality_p[0])
    assert r.method.startswith("Wilcoxon")


def test_compare_continuous_bad_input():
    with pytest.raises(ValueError, match="train: contains NaN"):
        compare_continuous([1, np.nan, 3], [1, 2, 3])
    with pytest.raises(ValueError, match="test: need at least 2 values"):
        compare_continuous([1, 2, 3], [1])
    with pytest.raises(ValueError, match="alpha_normal must be strictly between 0 and 1"):
        compare_continuous([1, 2, 3], [1, 2, 3], alpha_normal=1.5)


# --------------------------------------------------------------------------- categorical


def test_compare_categorical_chi_square_yates():
    t = np.array([[60, 25], [140, 70]])
    r = compare_categorical(t)
    assert r.method == "Pearson chi-square (Yates)"
    assert r.p_value == pytest.approx(stats.chi2_contingency(t, correction=True).pvalue, rel=1e-12)
    assert r.p_value != pytest.approx(stats.chi2_contingency(t, correction=False).pvalue, rel=1e-3)


def test_compare_categorical_small_expected_uses_fisher():
    t = np.array([[9, 7], [438, 184]])  # expected count 4.79 < 5, every observed >= 5
    r = compare_categorical(t)
    assert r.method == "Fisher exact"
    assert r.p_value == pytest.approx(stats.fisher_exact(t).pvalue, rel=1e-12)
    r_obs = compare_categorical(t, small_cell="observed")
    assert r_obs.method == "Pearson chi-square (Yates)"
    assert r_obs.p_value == pytest.approx(stats.chi2_contingency(t).pvalue, rel=1e-12)


def test_compare_categorical_small_observed_uses_fisher():
    t = np.array([[3, 20], [50, 40]])
    assert compare_categorical(t, small_cell="observed").method == "Fisher exact"


def test_compare_categorical_larger_table_no_yates():
    t = np.array([[30, 20], [25, 30], [40, 22]])
    r = compare_categorical(t)
    assert r.method == "Pearson chi-square"
    assert r.p_value == pytest.approx(stats.chi2_contingency(t).pvalue, rel=1e-12)


def test_compare_categorical_single_level_not_tested():
    r = compare_categorical([[0, 0], [447, 191]])
    assert np.isnan(r.p_value) and r.method == "not tested (one level)"


def test_compare_categorical_bad_input():
    with pytest.raises(ValueError, match="table: counts must be non-negative integers"):
        compare_categorical([[1, -2], [3, 4]])
    with pytest.raises(ValueError, match="table: must be 2-dimensional"):
        compare_categorical([1, 2, 3])
    with pytest.raises(ValueError, match="small_cell must be one of"):
        compare_categorical([[10, 10], [10, 10]], small_cell="any")


# --------------------------------------------------------------------------- table


def test_table1_rows_and_columns():
    df = _clinical()
    t = table1(df, _groups(len(df), 84))
    assert list(t.columns) == ["variable", "level", "label", "train", "test", "p_value", "method"]
    expected_keys = []
    for row in TABLE1_ROWS:
        expected_keys += [(row.variable, "median (range)")] if row.column else [(row.variable, lvl) for lvl, _ in row.levels]
    assert list(zip(t["variable"], t["level"])) == expected_keys
    assert len(t) == 26  # 6 continuous rows + 10 two-level variables
    for _, grp in t.groupby("variable"):
        assert grp["p_value"].nunique(dropna=False) == 1


def test_table1_numbers_counts_percentages_ranges():
    df = _clinical()
    group = _groups(len(df), 84)
    nums = table1_numbers(df, group).set_index(["variable", "level"])
    train, test = df.iloc[:84], df.iloc[84:]
    male = nums.loc[("sex", "Male")]
    assert male["train_count"] == (train["sex"] == "M").sum()
    assert male["train_percent"] == pytest.approx(100 * (train["sex"] == "M").mean())
    assert male["test_percent"] == pytest.approx(100 * (test["sex"] == "M").mean())
    female = nums.loc[("sex", "Female")]
    assert male["train_percent"] + female["train_percent"] == pytest.approx(100)
    crp = nums.loc[("crp", "median (range)")]
    assert (crp["train_median"], crp["train_min"], crp["train_max"]) == (
        train["crp"].median(), train["crp"].min(), train["crp"].max())
    assert (crp["test_median"], crp["test_min"], crp["test_max"]) == (
        test["crp"].median(), test["crp"].min(), test["crp"].max())
    assert (nums["n_train"] == 84).all() and (nums["n_test"] == 36).all()


def test_table1_p_values_match_direct_tests():
    df = _clinical(200, seed=5)
    group = _groups(200, 140)
    t = table1(df, group).set_index(["variable", "level"])
    is_train = group == "train"
    age = df["age"].to_numpy()
    direct = compare_continuous(age[is_train], age[~is_train])
    assert t.loc[("age", "median (range)"), "p_value"] == pytest.approx(direct.p_value)
    assert t.loc[("age", "median (range)"), "method"] == direct.method
    smoke = np.array([[np.sum((df["smoking"] == lvl).to_numpy() & s) for s in (is_train, ~is_train)]
                      for lvl in ("yes", "no")])
    assert t.loc[("smoking", "Yes"), "p_value"] == pytest.approx(stats.chi2_contingency(smoke).pvalue)


def test_table1_formatting():
    df = _clinical()
    t = table1(df, _groups(len(df), 84)).set_index(["variable", "level"])
    train = df.iloc[:84]
    n_male = int((train["sex"] == "M").sum())
    assert t.loc[("sex", "Male"), "train"] == f"{n_male} ({100 * n_male / 84:.1f})"
    age = train["age"]
    assert t.loc[("age", "median (range)"), "train"] == f"{age.median():.0f} ({age.min():.0f}-{age.max():.0f})"
    ebv = t.loc[("ebv_dna", "median (range)"), "train"]
    assert "," in ebv  # thousands separators, as the paper's 1,070,000


def test_table1_groups_clinical_cutoffs():
    df = _clinical(10)
    df["sex"] = ["M", "M", "F", "F", "M", "F", "M", "F", "M", "F"]
    df["hgb"] = [129, 130, 114, 115, 150, 150, 120, 100, 140, 140]
    df["alb"] = [39.9, 40.0, 45, 45, 45, 45, 45, 45, 45, 45]
    df["crp"] = [3.0, 3.01, 1, 1, 1, 1, 1, 1, 1, 1]
    df["ldh"] = [250.0, 250.1, 100, 100, 100, 100, 100, 100, 100, 100]
    df["ebv_dna"] = [3999, 4000, 0, 0, 0, 0, 0, 0, 0, 0]
    g = table1_groups(df)
    assert g["hgb_group"].tolist()[:4] == ["Abnormal", "Normal", "Abnormal", "Normal"]
    assert g["alb_group"].tolist()[:2] == ["Abnormal", "Normal"]
    assert g["crp_group"].tolist()[:2] == ["Normal", "Abnormal"]
    assert g["ldh_group"].tolist()[:2] == ["Normal", "Abnormal"]
    assert g["ebv_dna_group"].tolist()[:2] == ["< 4000", ">= 4000"]
    assert g["sex"].tolist()[:3] == ["Male", "Male", "Female"]


def test_table1_accepts_categorical_dtypes_and_aligned_series():
    df = _clinical()
    df["sex"] = pd.Categorical(df["sex"], categories=["M", "F"])
    group = pd.Series(_groups(len(df), 84), index=df.index)
    a = table1(df, group)
    b = table1(df.assign(sex=df["sex"].astype(str)), group.to_numpy())
    pd.testing.assert_frame_equal(a, b)


def test_table1_bad_group():
    df = _clinical(20)
    with pytest.raises(ValueError, match=r"group: unknown label\(s\) \['validation'\]"):
        table1(df, np.where(np.arange(20) < 10, "train", "validation"))
    with pytest.raises(ValueError, match="group: length 19 differs from clinical's 20 rows"):
        table1(df, _groups(19, 10))
    with pytest.raises(ValueError, match="group: no patient labelled 'test'"):
        table1(df, np.full(20, "train"))
    with pytest.raises(ValueError, match="group: its index differs"):
        table1(df, pd.Series(_groups(20, 10), index=range(100, 120)))


def test_table1_bad_clinical():
    df = _clinical(20)
    with pytest.raises(ValueError, match=r"clinical: missing column\(s\) \['ldh'\]"):
        table1(df.drop(columns="ldh"), _groups(20, 10))
    bad = df.copy()
    bad.loc[3, "alb"] = np.nan
    with pytest.raises(ValueError, match="clinical: field alb: missing value in row 3"):
        table1(bad, _groups(20, 10))
    bad = df.assign(sex=["X"] + df["sex"].tolist()[1:])
    with pytest.raises(ValueError, match="clinical: field sex: unknown category 'X'"):
        table1(bad, _groups(20, 10))
    with pytest.raises(TypeError, match="clinical must be a pandas DataFrame"):
        table1(df.to_numpy(), _groups(20, 10))


def test_table1_rows_agree_with_the_cohort_schema():
    # the statistics layer does not import the schema; this test keeps the two in step
    recodes = {r.derive.column: set(r.derive.mapping) for r in TABLE1_ROWS if isinstance(r.derive, Recode)}
    assert recodes == {c: set(levels) for c, levels in schema.CATEGORIES.items()}
    continuous = {r.column for r in TABLE1_ROWS if r.column}
    assert continuous == set(schema.CONTINUOUS)
    hgb = next(r.derive for r in TABLE1_ROWS if r.variable == "hgb_group")
    assert isinstance(hgb, SexSpecificCut) and dict(hgb.cutoffs) == {"M": 130.0, "F": 115.0}


def test_table1_hgb_sex_specific_cutoffs():
    df = pd.DataFrame({"sex": ["M", "M", "F", "F"], "hgb": [129.0, 130.0, 114.0, 115.0]})
    rule = SexSpecificCut("hgb", "sex", {"M": 130.0, "F": 115.0}, below="Abnormal", above="Normal")
    assert rule(df).tolist() == ["Abnormal", "Normal", "Abnormal", "Normal"]
    with pytest.raises(ValueError, match=r"field sex: no hgb cut-off for \['X'\]"):
        rule(df.assign(sex=["X", "M", "F", "F"]))


def test_table1_custom_rows_are_passed_as_data():
    df = _clinical()
    group = _groups(len(df), 84)
    rows = (Table1Row("alb", "ALB, median (range), g/L", column="alb"),
            Table1Row("alb_group", "ALB, No. (%)", levels=(("low", "< 45"), ("high", ">= 45")),
                      derive=Cut("alb", "low", "high", 45.0, right_closed=False)))
    t = table1(df.drop(columns=["ldh", "sex"]), group, rows=rows)
    assert t["variable"].tolist() == ["alb", "alb_group", "alb_group"]
    low = t[(t.variable == "alb_group") & (t.level == "low")].iloc[0]
    assert low["train"].startswith(f"{int((df.alb.iloc[:84] < 45).sum())} (")
    with pytest.raises(ValueError, match="rows must be a non-empty sequence of Table1Row"):
        table1(df, group, rows=())
    with pytest.raises(ValueError, match="needs exactly one of column"):
        table1(df, group, rows=(Table1Row("x", "x"),))
