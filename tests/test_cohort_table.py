"""Real exports of clinical.csv: delimiters, encodings, Excel, headers, ids, categories (issue 10)."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cohort_factory import tiny_clinical
from npc_lib.cohort import schema
from npc_lib.cohort.load import CohortError, load_cohort, validate_cohort


def _write(root: Path, df: pd.DataFrame, *, sep=",", encoding="utf-8", decimal=".", name=schema.CLINICAL_FILE):
    root.mkdir(parents=True, exist_ok=True)
    text = df.to_csv(index=False, sep=sep, decimal=decimal)
    (root / name).write_bytes(text.encode(encoding))
    return root


@pytest.fixture
def clinical():
    return tiny_clinical(8)


def _report(root):
    return validate_cohort(root, check_images="none")


def _messages(report, level=None):
    return [p.text for p in report.problems if level is None or p.level == level]


def test_table_semicolon_with_decimal_commas(tmp_path, clinical):
    root = _write(tmp_path / "c", clinical, sep=";", decimal=",")
    cohort = load_cohort(root, check_images="none")
    pd.testing.assert_series_equal(cohort.clinical["alb"], clinical["alb"].astype(float))
    notes = _messages(cohort.report, "note")
    assert any("semicolon-delimited (not comma)" in m for m in notes)
    assert any("field alb: 8 decimal comma(s) read as decimal points" in m for m in notes)


def test_table_tab_delimited(tmp_path, clinical):
    cohort = load_cohort(_write(tmp_path / "c", clinical, sep="\t"), check_images="none")
    assert cohort.patient_ids == clinical["patient_id"].tolist()
    assert any("tab-delimited" in m for m in _messages(cohort.report, "note"))


def test_table_decimal_comma_refused_in_comma_file(tmp_path, clinical):
    df = clinical.astype({"alb": object})
    df.loc[2, "alb"] = "44,5"
    with pytest.raises(CohortError, match=r"patient NPC0003, field alb: non-numeric value '44,5'"):
        load_cohort(_write(tmp_path / "c", df), check_images="none")


def test_table_utf8_bom(tmp_path, clinical):
    cohort = load_cohort(_write(tmp_path / "c", clinical, encoding="utf-8-sig"), check_images="none")
    assert "patient_id" in cohort.clinical.columns
    assert any("byte-order mark (BOM)" in m for m in _messages(cohort.report, "note"))


def test_table_utf16_unicode_text_export(tmp_path, clinical):
    cohort = load_cohort(_write(tmp_path / "c", clinical, sep="\t", encoding="utf-16"), check_images="none")
    assert cohort.patient_ids == clinical["patient_id"].tolist()
    assert any("UTF-16 text" in m for m in _messages(cohort.report, "note"))


def test_table_cp1252_read_with_fix_named(tmp_path, clinical):
    df = clinical.copy()
    df["scanner"] = "Siemens Avanto – Genève"
    cohort = load_cohort(_write(tmp_path / "c", df, encoding="cp1252"), check_images="none")
    assert cohort.clinical["scanner"].iloc[0] == "Siemens Avanto – Genève"
    assert any("not UTF-8" in m and "Windows-1252" in m and "CSV UTF-8" in m
               for m in _messages(cohort.report, "note"))


def test_table_xlsx_renamed_csv(tmp_path, clinical):
    root = tmp_path / "c"
    root.mkdir()
    clinical.to_excel(root / "clinical.csv", index=False, sheet_name="patients", engine="openpyxl")
    cohort = load_cohort(root, check_images="none")
    assert cohort.patient_ids == clinical["patient_id"].tolist()
    np.testing.assert_allclose(cohort.clinical["crp"], clinical["crp"])
    assert any("Excel workbook (.xlsx)" in m and "'patients'" in m for m in _messages(cohort.report, "note"))


def test_table_xlsx_under_its_own_name(tmp_path, clinical):
    root = tmp_path / "c"
    root.mkdir()
    clinical.to_excel(root / "clinical.xlsx", index=False, engine="openpyxl")
    cohort = load_cohort(root, check_images="none")
    assert len(cohort.patient_ids) == 8
    assert any("read from clinical.xlsx (expected clinical.csv)" in m for m in _messages(cohort.report, "note"))


def test_table_old_xls_names_the_fix(tmp_path):
    root = tmp_path / "c"
    root.mkdir()
    (root / "clinical.csv").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100)
    with pytest.raises(CohortError, match=r"^clinical\.csv: an old Excel workbook \(\.xls\).*save as 'CSV UTF-8'"):
        load_cohort(root, check_images="none")


def test_table_binary_file_rejected(tmp_path):
    root = tmp_path / "c"
    root.mkdir()
    (root / "clinical.csv").write_bytes(b"patient_id\x00\x01\x02")
    with pytest.raises(CohortError, match=r"^clinical\.csv: binary file, not a text table"):
        load_cohort(root, check_images="none")


def test_table_ids_na_and_none_stay_ids(tmp_path, clinical):
    df = clinical.copy()
    df.loc[0, "patient_id"], df.loc[1, "patient_id"], df.loc[2, "patient_id"] = "NA", "None", "007"
    cohort = load_cohort(_write(tmp_path / "c", df), check_images="none")
    assert cohort.patient_ids[:3] == ["NA", "None", "007"]


def test_table_spaces_around_headers_ids_and_categories(tmp_path, clinical):
    df = clinical.copy()
    df.columns = [f" {c} " if c in ("age", "patient_id") else c for c in df.columns]
    df[" patient_id "] = " " + df[" patient_id "] + " "
    df["who_type"] = df["who_type"] + " "
    cohort = load_cohort(_write(tmp_path / "c", df), check_images="none")
    assert cohort.patient_ids == clinical["patient_id"].tolist()
    assert cohort.clinical["who_type"].tolist() == clinical["who_type"].tolist()
    notes = _messages(cohort.report, "note")
    assert any("spaces (or other invisible characters) removed around headers" in m and "' age '" in m
               for m in notes)
    assert any("spaces removed around" in m and "cell value(s)" in m for m in notes)


def test_table_trailing_comma_on_every_row(tmp_path, clinical):
    root = tmp_path / "c"
    root.mkdir()
    lines = clinical.to_csv(index=False).splitlines()
    text = lines[0] + "\n" + "".join(line + ",\n" for line in lines[1:])
    (root / "clinical.csv").write_text(text)
    cohort = load_cohort(root, check_images="none")
    assert cohort.clinical["age"].tolist() == clinical["age"].tolist()
    assert any("a delimiter at the end of each data line" in m for m in _messages(cohort.report, "note"))


def test_table_trailing_empty_column_with_header_comma(tmp_path, clinical):
    root = tmp_path / "c"
    root.mkdir()
    (root / "clinical.csv").write_text("".join(line + ",\n" for line in clinical.to_csv(index=False).splitlines()))
    cohort = load_cohort(root, check_images="none")
    assert list(cohort.clinical.columns) == list(schema.CLINICAL_COLUMNS)
    assert any("empty last column" in m for m in _messages(cohort.report, "note"))


def test_table_row_with_extra_cell(tmp_path, clinical):
    root = tmp_path / "c"
    root.mkdir()
    lines = clinical.to_csv(index=False).splitlines()
    lines[3] += ",oops"
    (root / "clinical.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(CohortError, match=r"clinical\.csv: line 4 has 22 cells, the header has 21"):
        load_cohort(root, check_images="none")


def test_table_duplicated_header_rejected(tmp_path, clinical):
    df = clinical.copy()
    df.insert(14, "age_dup", df["age"])
    text = df.to_csv(index=False).replace("age_dup", "age", 1)
    root = tmp_path / "c"
    root.mkdir()
    (root / "clinical.csv").write_text(text)
    with pytest.raises(CohortError, match=r"clinical\.csv: field age: duplicated column header 'age' \(columns 2 and 15\)"):
        load_cohort(root, check_images="none")


def test_table_column_without_header(tmp_path, clinical):
    df = clinical.copy()
    df["notes"] = "x"
    text = df.to_csv(index=False).replace(",notes", ",", 1)
    root = tmp_path / "c"
    root.mkdir()
    (root / "clinical.csv").write_text(text)
    with pytest.raises(CohortError, match=r"clinical\.csv: column 22 has no header"):
        load_cohort(root, check_images="none")


def test_table_headers_in_other_case(tmp_path, clinical):
    df = clinical.rename(columns={"age": "Age", "patient_id": "Patient_ID"})
    cohort = load_cohort(_write(tmp_path / "c", df), check_images="none")
    assert cohort.clinical["age"].tolist() == clinical["age"].tolist()
    assert any("'Age' -> age" in m for m in _messages(cohort.report, "note"))


@pytest.mark.parametrize("column, raw, level", [
    ("sex", "m", "M"), ("sex", "Male", "M"), ("sex", "female", "F"), ("smoking", "Yes", "yes"),
    ("smoking", "Y", "yes"), ("drinking", "1", "yes"), ("family_history", "FALSE", "no"),
    ("who_type", "III ", "III"), ("who_type", "i-ii", "I-II"), ("who_type", "3", "III"),
])
def test_table_category_synonyms(tmp_path, clinical, column, raw, level):
    df = clinical.copy()
    df[column] = df[column].astype(object)
    df.loc[4, column] = raw
    cohort = load_cohort(_write(tmp_path / "c", df), check_images="none")
    assert cohort.clinical.loc[4, column] == level
    if raw.strip() != level:
        assert any(f"field {column}: values read as the contract's levels: {raw.strip()!r} -> {level}" in m
                   for m in _messages(cohort.report, "note"))


def test_table_event_codes_read_as_0_1(tmp_path, clinical):
    df = clinical.astype({"lrfs_event": object})
    df["lrfs_event"] = np.where(clinical["lrfs_event"] == 1, "yes", "no")
    cohort = load_cohort(_write(tmp_path / "c", df), check_images="none")
    assert cohort.clinical["lrfs_event"].tolist() == clinical["lrfs_event"].tolist()
    assert any("field lrfs_event: event codes read as 0/1" in m for m in _messages(cohort.report, "note"))


def test_table_missing_tokens_are_missing_values(tmp_path, clinical):
    df = clinical.astype({"ldh": object, "sex": object})
    df.loc[1, "ldh"], df.loc[5, "sex"] = "NA", "n/a"
    report = _report(_write(tmp_path / "c", df))
    msgs = _messages(report, "error")
    assert "clinical.csv: patient NPC0002, field ldh: missing value 'NA' (line 3)" in msgs
    assert "clinical.csv: patient NPC0006, field sex: missing value 'n/a' (line 7)" in msgs


def test_table_id_with_path_separator_rejected(tmp_path, clinical):
    df = clinical.copy()
    df.loc[3, "patient_id"] = "../etc"
    with pytest.raises(CohortError, match=r"field patient_id: patient_id '\.\./etc' cannot name an image folder"):
        load_cohort(_write(tmp_path / "c", df), check_images="none")


def test_table_ids_compared_in_nfc(tmp_path, clinical):
    df = clinical.copy()
    df.loc[0, "patient_id"] = unicodedata.normalize("NFD", "Zoë01")
    cohort = load_cohort(_write(tmp_path / "c", df), check_images="none")
    assert cohort.patient_ids[0] == unicodedata.normalize("NFC", "Zoë01")


def test_table_every_problem_in_one_report(tmp_path, clinical):
    df = clinical.astype(object)
    df.loc[0, "sex"], df.loc[1, "ldh"], df.loc[2, "age"], df.loc[3, "dfs_event"] = "X", "high", 130, 3
    report = _report(_write(tmp_path / "c", df.drop(columns=["crp"])))
    errors = _messages(report, "error")
    assert len(errors) == 5, errors
    assert errors[0] == "clinical.csv: field crp: required column missing"
    assert any("patient NPC0001, field sex: unknown category 'X'" in m for m in errors)
    assert any("patient NPC0002, field ldh: non-numeric value 'high'" in m for m in errors)
    assert any("patient NPC0003, field age: implausible value 130.0" in m for m in errors)
    assert any("patient NPC0004, field dfs_event: event not 0/1: 3.0" in m for m in errors)


def test_table_clinical_variant_name(tmp_path, clinical):
    _write(tmp_path / "c", clinical, name="Clinical.CSV")
    cohort = load_cohort(tmp_path / "c", check_images="none")
    assert len(cohort.patient_ids) == 8
