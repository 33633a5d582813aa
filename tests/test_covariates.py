"""Coded clinical covariates, signature files and the joined model frame."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from cohort_factory import tiny_clinical

from npc_lib.cohort import schema
from npc_lib.coding import check_rule
from npc_lib.cohort.covariates import (AXIS_LABELS, CLINICAL_COVARIATES, CLINICAL_RULES, CODING, SIGNATURES,
                                       VALUE_LABELS, clinical_coding, code_clinical, code_values, model_frame, read_signatures,
                                       signature_name, source_variable)
from npc_lib.cohort.split import split_cohort


def _write_signatures(folder, split, seed=0, sequences=schema.SEQUENCES):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for seq in sequences:
        split.assign(risk=rng.normal(size=len(split))).to_csv(folder / f"signature_{seq}.csv", index=False)
    return folder


@pytest.fixture
def clinical():
    return tiny_clinical(12, seed=3)


@pytest.fixture
def split(clinical):
    return split_cohort(clinical["patient_id"], train_fraction=0.7, seed=1)


# --------------------------------------------------------------------------- coding


def test_code_clinical_matches_naive_coding(clinical):
    coded = code_clinical(clinical)
    assert list(coded.columns) == ["patient_id", *CLINICAL_COVARIATES]
    for i, row in clinical.iterrows():
        c = coded.iloc[i]
        assert c["patient_id"] == row["patient_id"]
        assert c["age"] == row["age"] and c["hgb"] == row["hgb"] and c["alb"] == row["alb"]
        assert c["ldh"] == row["ldh"]
        assert c["sex_female"] == (1.0 if row["sex"] == "F" else 0.0)
        assert c["who_I_II"] == (1.0 if row["who_type"] == "I-II" else 0.0)
        for f in ("family_history", "smoking", "drinking"):
            assert c[f] == (1.0 if row[f] == "yes" else 0.0)
        assert c["crp_above_3"] == (1.0 if row["crp"] > 3 else 0.0)
        assert c["ebv_dna_ge_4000"] == (1.0 if row["ebv_dna"] >= 4000 else 0.0)


def test_code_clinical_cuts_at_the_boundaries():
    c = tiny_clinical(4)
    c["crp"] = [3.0, 3.01, 0.0, 250.0]
    c["ebv_dna"] = [3999.0, 4000.0, 0.0, 1e6]
    coded = code_clinical(c)
    assert coded["crp_above_3"].tolist() == [0.0, 1.0, 0.0, 1.0]
    assert coded["ebv_dna_ge_4000"].tolist() == [0.0, 1.0, 0.0, 1.0]


def test_code_clinical_unknown_category_names_field():
    c = tiny_clinical(4)
    c.loc[2, "smoking"] = "sometimes"
    with pytest.raises(ValueError, match=r"patient NPC0003, field smoking: unknown value 'sometimes' \(allowed: no, yes\)"):
        code_clinical(c)


def test_code_clinical_missing_value_names_patient():
    c = tiny_clinical(4)
    c.loc[1, "ldh"] = np.nan
    with pytest.raises(ValueError, match=r"patient NPC0002, field ldh: not a finite number"):
        code_clinical(c)
    c["ldh"] = c["ldh"].astype(object)
    c.loc[1, "ldh"] = "high"
    with pytest.raises(ValueError, match=r"patient NPC0002, field ldh: not a number: 'high' \(give U/L\)"):
        code_clinical(c)


def test_code_clinical_missing_column_and_duplicates():
    with pytest.raises(ValueError, match=r"missing column\(s\) \['crp'\]"):
        code_clinical(tiny_clinical(4).drop(columns="crp"))
    c = tiny_clinical(4)
    c.loc[3, "patient_id"] = c.loc[0, "patient_id"]
    with pytest.raises(ValueError, match="patient NPC0001, field patient_id: duplicate"):
        code_clinical(c)


def test_code_values_paper_example_and_raw_forms():
    v = code_values({"age": 50, "ldh": 500.0, "ebv_dna": "< 4000", "sex": "F", "crp": "> 3",
                     "who_type": "III", "smoking": "yes", "DL_T2_sig": -0.4, "ebv_dna_ge_4000": 1})
    assert v == {"age": 50.0, "ldh": 500.0, "ebv_dna_ge_4000": 1.0, "sex_female": 1.0, "crp_above_3": 1.0,
                 "who_I_II": 0.0, "smoking": 1.0, "DL_T2_sig": -0.4}
    assert code_values({"ebv_dna": 4000, "crp": 2.0}) == {"ebv_dna_ge_4000": 1.0, "crp_above_3": 0.0}


def test_code_values_agrees_with_code_clinical(clinical):
    coded = code_clinical(clinical)
    for i in range(len(clinical)):
        raw = clinical.iloc[i][[src for src, _ in CODING.values()]].to_dict()
        assert code_values(raw) == coded.iloc[i][list(CLINICAL_COVARIATES)].astype(float).to_dict()


def test_clinical_rules_follow_the_schema():
    """One rule per clinical covariate, valid, on a schema column; levels are the schema's categories."""
    for name, rule in CLINICAL_RULES.items():
        assert check_rule(name, rule) == rule
        if rule["kind"] == "level":
            assert tuple(rule["levels"]) == schema.CATEGORIES[rule["variable"]]
        else:
            assert rule["unit"] == schema.CONTINUOUS[rule["variable"]]
    assert {c: r["variable"] for c, r in CLINICAL_RULES.items()} == {c: src for c, (src, _) in CODING.items()}
    assert clinical_coding() == {**CLINICAL_RULES, **{s: clinical_coding()[s] for s in SIGNATURES}}


def test_code_values_errors():
    with pytest.raises(ValueError, match="unknown field 'height'"):
        code_values({"height": 170})
    with pytest.raises(ValueError, match=r"values: field ebv_dna: not a number: 'lots' \(give copy/mL\)"):
        code_values({"ebv_dna": "lots"})
    with pytest.raises(ValueError, match=r"values: field sex: unknown value 'X' \(allowed: M, F\)"):
        code_values({"sex": "X"})


def test_names_and_labels_cover_every_covariate():
    assert [signature_name(s) for s in schema.SEQUENCES] == list(SIGNATURES)
    assert set(AXIS_LABELS) == set(CLINICAL_COVARIATES) | set(SIGNATURES)
    assert all(set(v) == {0.0, 1.0} for v in VALUE_LABELS.values())
    assert {source_variable(c) for c in CLINICAL_COVARIATES} <= set(schema.CLINICAL_COLUMNS)
    with pytest.raises(ValueError, match="sequence must be one of"):
        signature_name("FLAIR")
    with pytest.raises(ValueError, match="unknown covariate 'bmi'"):
        source_variable("bmi")


# --------------------------------------------------------------------------- signatures


def test_read_signatures_joins_three_files(tmp_path, split):
    folder = _write_signatures(tmp_path / "sig", split)
    sig = read_signatures(folder)
    assert list(sig.columns) == ["patient_id", "cohort", *SIGNATURES]
    assert sig["patient_id"].tolist() == sorted(split["patient_id"])
    t1 = pd.read_csv(folder / "signature_T1.csv", dtype={"patient_id": str}).set_index("patient_id")
    assert np.allclose(sig.set_index("patient_id").loc[t1.index, "DL_T1_sig"], t1["risk"])


def test_read_signatures_missing_file(tmp_path, split):
    folder = _write_signatures(tmp_path / "sig", split, sequences=("T1", "T2"))
    with pytest.raises(FileNotFoundError, match="signature_T1C.csv"):
        read_signatures(folder)


def test_read_signatures_patient_missing_from_one_file(tmp_path, split):
    folder = _write_signatures(tmp_path / "sig", split)
    t2 = pd.read_csv(folder / "signature_T2.csv")
    t2.iloc[1:].to_csv(folder / "signature_T2.csv", index=False)
    gone = t2["patient_id"].iloc[0]
    with pytest.raises(ValueError, match=f"patient {gone} is in signature_T1.csv but not in signature_T2.csv"):
        read_signatures(folder)


def test_read_signatures_bad_rows(tmp_path, split):
    folder = _write_signatures(tmp_path / "sig", split)
    t1 = pd.read_csv(folder / "signature_T1.csv")
    bad = t1.copy()
    bad.loc[2, "risk"] = np.inf
    bad.to_csv(folder / "signature_T1.csv", index=False)
    with pytest.raises(ValueError, match=f"patient {t1.patient_id[2]}, field risk: not a finite number"):
        read_signatures(folder)
    bad = t1.copy()
    bad.loc[3, "patient_id"] = bad.loc[0, "patient_id"]
    bad.to_csv(folder / "signature_T1.csv", index=False)
    with pytest.raises(ValueError, match="field patient_id: duplicate"):
        read_signatures(folder)
    t1.drop(columns="cohort").to_csv(folder / "signature_T1.csv", index=False)
    with pytest.raises(ValueError, match=r"missing column\(s\) \['cohort'\]"):
        read_signatures(folder)


def test_read_signatures_cohort_labels_disagree(tmp_path, split):
    folder = _write_signatures(tmp_path / "sig", split)
    t3 = pd.read_csv(folder / "signature_T1C.csv")
    t3.loc[0, "cohort"] = "test" if t3.loc[0, "cohort"] == "train" else "train"
    t3.to_csv(folder / "signature_T1C.csv", index=False)
    with pytest.raises(ValueError, match=f"patient {t3.patient_id[0]}, field cohort"):
        read_signatures(folder)


# --------------------------------------------------------------------------- frame and truth


def test_model_frame_rows_follow_clinical(tmp_path, clinical, split):
    sig = read_signatures(_write_signatures(tmp_path / "sig", split))
    f = model_frame(clinical, split, sig, endpoint="os")
    assert f["patient_id"].tolist() == clinical["patient_id"].tolist()
    assert np.array_equal(f["time"], clinical["os_time"]) and np.array_equal(f["event"], clinical["os_event"])
    cohort = split.set_index("patient_id").loc[clinical["patient_id"], "cohort"]
    assert f["cohort"].tolist() == cohort.tolist()
    by_id = sig.set_index("patient_id")
    for s in SIGNATURES:
        assert np.allclose(f[s], by_id.loc[f["patient_id"], s])
    assert model_frame(clinical, split).columns.tolist() == ["patient_id", "cohort", "time", "event",
                                                             *CLINICAL_COVARIATES]


def test_model_frame_missing_patients_are_named(tmp_path, clinical, split):
    sig = read_signatures(_write_signatures(tmp_path / "sig", split))
    with pytest.raises(ValueError, match="signatures: patient NPC0005 has no signature"):
        model_frame(clinical, split, sig[sig["patient_id"] != "NPC0005"])
    with pytest.raises(ValueError, match="split: patient NPC0007 is not in the split"):
        model_frame(clinical, split[split["patient_id"] != "NPC0007"], sig)
    with pytest.raises(ValueError, match="endpoint must be one of"):
        model_frame(clinical, split, endpoint="pfs")


def test_model_frame_cohort_disagreement(tmp_path, clinical, split):
    other = split.assign(cohort=np.where(split["cohort"] == "train", "test", "train"))
    sig = read_signatures(_write_signatures(tmp_path / "sig", other))
    with pytest.raises(ValueError, match="field cohort"):
        model_frame(clinical, split, sig)
