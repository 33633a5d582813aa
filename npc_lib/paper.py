"""The published numbers of Zhong et al. 2020, transcribed as data.

Source: Zhong L-Z, Fang X-L, Dong D, et al. "A deep learning MR-based radiomic
nomogram may predict survival for nasopharyngeal carcinoma patients with stage
T3N1M0." Radiother Oncol 2020. doi:10.1016/j.radonc.2020.06.050 (accepted
manuscript). Each constant names where it was read: section and paragraph,
table, or figure caption. Values are kept as printed (strings such as
``"<0.001"`` included); numeric columns are parsed from the printed strings,
never typed twice. The book's reproduction report (A21) puts the twin's numbers
beside these.

Variable and level keys of :data:`TABLE1` are those of
:func:`npc_lib.stats.table1.table1`; clinical covariate names are the columns
of :mod:`npc_lib.cohort.schema`; signature names are ``DL_T1_sig``,
``DL_T2_sig``, ``DL_T1C_sig``.
"""

from __future__ import annotations

__all__ = [
    "COHORT",
    "TABLE1",
    "TABLE2",
    "EVENTS",
    "FOLLOW_UP",
    "RISK_CUTOFF",
    "RISK_GROUPS",
    "CV_CINDEX_RANGE",
    "SIGNATURE_CINDEX_RANGE",
    "CLINIC_VS_DL_P",
    "MODEL_CLINIC_COVARIATES",
    "MODEL_CLINIC_DL_COVARIATES",
    "UNIVARIATE_SIGNIFICANT",
    "SUBGROUPS",
    "FIGURE2_EXAMPLE",
    "parse_p",
]

import re

import pandas as pd


def parse_p(text: str) -> tuple[float, bool]:
    """A printed p-value as ``(value, is_upper_bound)``.

    >>> parse_p("0.018"), parse_p("<0.001")
    ((0.018, False), (0.001, True))
    """
    s = str(text).strip().replace(" ", "")
    m = re.fullmatch(r"(<)?(\d*\.?\d+)", s)
    if not m:
        raise ValueError(f"text: not a printed p-value: {text!r}")
    return float(m.group(2)), m.group(1) is not None


# --------------------------------------------------------------------------- cohort

#: Results, paragraph 1: enrolment and the random split
COHORT = {
    "n": 638,
    "n_train": 447,
    "n_test": 191,
    "n_male": 442,
    "n_female": 196,
    "age_mean": 41.65,  # years, "mean [± SD] age, 41.65 ± 10.21 years"
    "age_sd": 10.21,
    "age_min": 10,
    "age_max": 69,
    "accrual": ("2010-01", "2016-03"),  # Methods, Patient data: "between January 2010 and March 2016"
    "last_follow_up": "2019-10-19",  # Results, paragraph 1
    "split": "computer-generated random numbers",  # Results, paragraph 1
    "table1_p_range": (0.18, 0.99),  # Results, paragraph 1: "p = 0.18 - 0.99"
}

#: Results, paragraph 1: DFS events (progression or death) per cohort, p of the comparison
EVENTS = {
    "train": {"events": 81, "n": 447, "percent": 18.1},
    "test": {"events": 32, "n": 191, "percent": 16.8},
    "p": "0.76",
}

#: Results, paragraph 1: "median follow-up of 5.46 years (interquartile range: 4.52-6.52)"
FOLLOW_UP = {"median_years": 5.46, "q1_years": 4.52, "q3_years": 6.52}

# --------------------------------------------------------------------------- Table 1

# Table 1 "Baseline characteristics in the training and test cohorts" (Primary
# cohort N = 447 = training, Validation cohort N = 191 = test). p is printed on
# the first level row of a variable; here it is repeated on each level row, as
# in table1(). Footnote *: HGB abnormal if < 130 g/L (male), < 115 g/L (female).
_TABLE1_PRINTED = [
    # variable, level, label as printed, train, test, p
    ("age", "median (range)", "Age, median (range), years", "41 (10-69)", "41 (16-68)", "0.78"),
    ("sex", "Male", "Sex, No. (%): Male", "308 (68.9)", "134 (70.2)", "0.83"),
    ("sex", "Female", "Sex, No. (%): Female", "139 (31.1)", "57 (29.8)", "0.83"),
    ("hgb", "median (range)", "HGB*, median (range), g/L", "141.0 (67.0-174.0)", "143.0 (91.0-179.0)", "0.18"),
    ("hgb_group", "Normal", "HGB: Normal", "388 (86.8)", "167 (87.4)", "0.93"),
    ("hgb_group", "Abnormal", "HGB: Abnormal", "59 (13.2)", "24 (12.6)", "0.93"),
    ("family_history", "Yes", "Family history of cancer, No. (%): Yes", "133 (29.8)", "52 (27.2)", "0.58"),
    ("family_history", "No", "Family history of cancer, No. (%): No", "314 (70.2)", "139 (72.8)", "0.58"),
    ("smoking", "Yes", "Smoking, No. (%): Yes", "129 (28.9)", "62 (32.5)", "0.42"),
    ("smoking", "No", "Smoking, No. (%): No", "318 (71.1)", "129 (67.5)", "0.42"),
    ("drinking", "Yes", "Drinking, No. (%): Yes", "40 (8.9)", "19 (9.9)", "0.80"),
    ("drinking", "No", "Drinking, No. (%): No", "407 (91.1)", "172 (90.1)", "0.80"),
    ("who_type", "I-II", "WHO pathology type, No. (%): I-II", "9 (2.0)", "7 (3.7)", "0.34"),
    ("who_type", "III", "WHO pathology type, No. (%): III", "438 (98.0)", "184 (96.3)", "0.34"),
    ("alb", "median (range)", "ALB, median (range), g/L", "44.5 (33.0-129.0)", "44.8 (36.1-52.2)", "0.99"),
    ("alb_group", "Normal", "ALB: Normal (≥ 40), No. (%)", "410 (91.7)", "176 (92.1)", "0.98"),
    ("alb_group", "Abnormal", "ALB: Abnormal (< 40), No. (%)", "37 (8.3)", "15 (7.9)", "0.98"),
    ("crp", "median (range)", "CRP, median (range), mg/L", "1.76 (0.14-246.58)", "1.79 (0.03-81.17)", "0.71"),
    ("crp_group", "Normal", "CRP: Normal (≤ 3), No. (%)", "313 (70.0)", "131 (68.6)", "0.79"),
    ("crp_group", "Abnormal", "CRP: Abnormal (> 3), No. (%)", "134 (30.0)", "60 (31.4)", "0.79"),
    ("ldh", "median (range)", "LDH, median (range), U/L", "176.0 (76.6-753.0)", "173.6 (109.0-554.0)", "0.26"),
    ("ldh_group", "Normal", "LDH: Normal (≤ 250), No. (%)", "415 (92.8)", "182 (95.3)", "0.33"),
    ("ldh_group", "Abnormal", "LDH: Abnormal (> 250), No. (%)", "32 (7.2)", "9 (4.7)", "0.33"),
    ("ebv_dna", "median (range)", "pre-EBV DNA, median (range), copy/mL", "3140 (0-1,070,000)",
     "2560 (0-9,240,000)", "0.22"),
    ("ebv_dna_group", "< 4000", "pre-EBV DNA: < 4000, No. (%)", "234 (52.3)", "105 (55.0)", "0.60"),
    ("ebv_dna_group", ">= 4000", "pre-EBV DNA: ≥ 4000, No. (%)", "213 (47.7)", "86 (45.0)", "0.60"),
]

_NUM = r"(\d[\d,]*(?:\.\d+)?)"


def _num(s: str) -> float:
    return float(s.replace(",", ""))


def _parse_cell(text: str) -> dict[str, float]:
    """``"41 (10-69)"`` -> median/min/max; ``"308 (68.9)"`` -> count/percent."""
    m = re.fullmatch(rf"{_NUM} \({_NUM}-{_NUM}\)", text)
    if m:
        return {"median": _num(m.group(1)), "min": _num(m.group(2)), "max": _num(m.group(3))}
    m = re.fullmatch(rf"{_NUM} \({_NUM}\)", text)
    if m:
        return {"count": _num(m.group(1)), "percent": _num(m.group(2))}
    raise ValueError(f"unparsed Table 1 cell {text!r}")


def _build_table1() -> pd.DataFrame:
    records = []
    for variable, level, label, train, test, p in _TABLE1_PRINTED:
        rec = {"variable": variable, "level": level, "label": label, "train": train, "test": test,
               "p": p, "p_value": parse_p(p)[0],
               "kind": "continuous" if level == "median (range)" else "categorical"}
        for group, cell in (("train", train), ("test", test)):
            rec.update({f"{group}_{k}": v for k, v in _parse_cell(cell).items()})
        records.append(rec)
    cols = ["variable", "level", "label", "kind", "train", "test", "p", "p_value",
            "train_median", "train_min", "train_max", "test_median", "test_min", "test_max",
            "train_count", "train_percent", "test_count", "test_percent"]
    out = pd.DataFrame.from_records(records).reindex(columns=cols)
    return out.astype({"train_count": "Int64", "test_count": "Int64"})


#: Table 1 as printed, with numeric columns parsed from the printed cells
TABLE1: pd.DataFrame = _build_table1()

# --------------------------------------------------------------------------- Table 2

# Table 2 "Performance of deep learning-based radiomic signatures and models for
# predicting DFS": Harrell's C-index, 95% CI, Z-test p against 0.5
_TABLE2_PRINTED = [
    # model, training (C, CI, p), test (C, CI, p)
    ("DL_T1_sig", "0.731", "0.675-0.786", "<0.001", "0.712", "0.612-0.812", "<0.001"),
    ("DL_T2_sig", "0.695", "0.632-0.758", "<0.001", "0.706", "0.609-0.802", "<0.001"),
    ("DL_T1C_sig", "0.701", "0.647-0.755", "<0.001", "0.755", "0.672-0.838", "<0.001"),
    ("Model_clinic", "0.640", "0.577-0.703", "<0.001", "0.625", "0.521-0.729", "0.018"),
    ("Model_clinic+dl", "0.771", "0.715-0.827", "<0.001", "0.788", "0.695-0.882", "<0.001"),
]


def _build_table2() -> pd.DataFrame:
    records = []
    for model, *cells in _TABLE2_PRINTED:
        for cohort, (c, ci, p) in (("train", cells[:3]), ("test", cells[3:])):
            lo, hi = (float(v) for v in ci.split("-"))
            value, bound = parse_p(p)
            records.append({"model": model, "cohort": cohort, "c_index": float(c), "ci_lower": lo,
                            "ci_upper": hi, "p": p, "p_value": value, "p_is_upper_bound": bound})
    return pd.DataFrame.from_records(records)


#: Table 2 in long form: one row per (model, cohort in {"train", "test"})
TABLE2: pd.DataFrame = _build_table2()

#: Results, paragraph 2: C-index ranges of the three signatures ("0.695-0.731" / "0.706-0.755")
SIGNATURE_CINDEX_RANGE = {"train": (0.695, 0.731), "test": (0.706, 0.755)}

#: Results, paragraph 2: 3-fold cross-validation C-indices in the holdout sets, all sequences
CV_CINDEX_RANGE = (0.690, 0.746)

#: Results, paragraph 3 and Discussion: Model_clinic vs Model_clinic+dl (survcomp cindex.comp)
CLINIC_VS_DL_P = {"train": "<0.001", "test": "0.001"}

# --------------------------------------------------------------------------- models

#: Results, paragraph 2 and Table 2 note: Model_clinic after backward stepwise AIC
MODEL_CLINIC_COVARIATES = ("sex", "age", "ebv_dna", "crp", "ldh")

#: Results, paragraph 3 and Table 2 note: Model_clinic+dl (the nomogram). The
#: Figure 2 caption enters pre-EBV DNA as "<4000" (a binary cut at 4000 copy/mL)
#: and LDH as a value in U/L.
MODEL_CLINIC_DL_COVARIATES = ("DL_T1_sig", "DL_T2_sig", "DL_T1C_sig", "age", "ldh", "ebv_dna")

#: Results, paragraph 2: univariate Cox (Table D1) significant clinical factors
UNIVARIATE_SIGNIFICANT = ("ebv_dna", "ldh", "crp")

#: Results, paragraph 5 (Figure D2): subgroups in which the nomogram was tested
SUBGROUPS = ("family_history", "sex", "crp_group", "hgb_group", "smoking")

# --------------------------------------------------------------------------- risk groups

#: Results, paragraph 4: the nomogram threshold chosen on the training cohort
RISK_CUTOFF = {"score": 0.398, "points": 180}

#: Results, paragraph 4 (Figure 2D-E): high vs low risk; HR with 95% CI, log-rank p,
#: 5-year DFS (%) per group
RISK_GROUPS = pd.DataFrame.from_records([
    {"cohort": "train", "hr": 6.12, "hr_lower": 3.72, "hr_upper": 10.07, "p": "<0.001",
     "dfs5_high": 63.1, "dfs5_low": 93.0},
    {"cohort": "test", "hr": 6.90, "hr_lower": 3.10, "hr_upper": 15.36, "p": "<0.001",
     "dfs5_high": 66.9, "dfs5_low": 94.4},
])

# --------------------------------------------------------------------------- Figure 2

#: Figure 2 caption: worked example of the nomogram. "the total point of the
#: patient was about 212 (40+60+0+60+22+30)". The caption lists the points
#: without naming them; they are assigned here in the caption's order of the
#: inputs (age, LDH, pre-EBV DNA, DL_T1_sig, DL_T2_sig, DL_T1C_sig): an
#: inference, consistent with pre-EBV DNA < 4000 being the 0-point reference.
FIGURE2_EXAMPLE = {
    "inputs": {"age": 50, "ldh": 500.0, "ebv_dna": "< 4000",
               "DL_T1_sig": 0.4, "DL_T2_sig": -0.4, "DL_T1C_sig": 0.0},
    "points_printed": (40, 60, 0, 60, 22, 30),
    "points": {"age": 40, "ldh": 60, "ebv_dna": 0, "DL_T1_sig": 60, "DL_T2_sig": 22, "DL_T1C_sig": 30},
    "total_points": 212,  # "about 212"
    "dfs_3y": 0.78,  # "about 78%"
    "dfs_5y": 0.70,  # "about 70%"
}

