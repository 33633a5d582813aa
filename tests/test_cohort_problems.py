"""The validation report: grouped text capped with a total, strict JSON, CohortError (issue 10)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from npc_lib.cli import main
from npc_lib.cohort import schema
from npc_lib.cohort.load import load_cohort, validate_cohort
from npc_lib.cohort.problems import CohortError, Problem, ValidationReport


def _many(n_patients: int) -> ValidationReport:
    r = ValidationReport(source="c", n_patients=n_patients)
    r.error("required column missing", file="clinical.csv", field="ldh")
    for i in range(n_patients):
        r.error("unknown category 'X' (allowed: M, F)", file="clinical.csv", patient_id=f"P{i:03d}", field="sex")
        r.error("empty mask (no tumour voxel)", file=f"images/P{i:03d}/T1_roi.nii.gz", patient_id=f"P{i:03d}",
                field="voxels")
    r.warning("only 3 patients", file="clinical.csv")
    r.note("semicolon-delimited", file="clinical.csv")
    return r


def test_problem_text_leaves_out_missing_parts():
    assert Problem("error", "boom").text == "boom"
    assert Problem("error", "boom", file="a.csv").text == "a.csv: boom"
    assert Problem("note", "x", file="f", patient_id="P1", field="age").text == "f: patient P1, field age: x"
    with pytest.raises(ValueError, match="level must be one of"):
        Problem("fatal", "x")


def test_report_render_groups_by_patient_and_file():
    text = _many(2).render()
    lines = text.splitlines()
    assert lines[0] == "cohort c: 2 patients; 5 errors, 1 warning, 1 note"
    assert lines[1:9] == [
        "errors (5):",
        "  clinical.csv: field ldh: required column missing",
        "  patient P000:",
        "    clinical.csv: patient P000, field sex: unknown category 'X' (allowed: M, F)",
        "    images/P000/T1_roi.nii.gz: patient P000, field voxels: empty mask (no tumour voxel)",
        "  patient P001:",
        "    clinical.csv: patient P001, field sex: unknown category 'X' (allowed: M, F)",
        "    images/P001/T1_roi.nii.gz: patient P001, field voxels: empty mask (no tumour voxel)",
    ]
    assert "warnings (1):" in lines and "notes (1):" in lines


def test_report_render_capped_with_total():
    text = _many(100).render(max_shown=10)
    assert text.count("empty mask") + text.count("unknown category") == 9
    assert "  ... and 191 more (201 errors in total; npc validate --format json lists them all)" in text


def test_report_json_is_strict_and_complete():
    r = _many(3)
    data = json.loads(r.to_json())
    assert data["ok"] is False and data["counts"] == {"error": 7, "warning": 1, "note": 1}
    assert data["problems"][0] == {"level": "error", "message": "required column missing", "file": "clinical.csv",
                                   "patient_id": None, "field": "ldh"}
    assert "NaN" not in r.to_json()


def test_cohort_error_lists_every_error():
    r = _many(2)
    with pytest.raises(CohortError) as info:
        r.raise_if_errors()
    err = info.value
    assert isinstance(err, ValueError) and len(err.problems) == 5 and err.report is r
    assert (err.file, err.patient_id, err.field) == ("clinical.csv", None, "ldh")
    assert str(err).startswith("cohort c: 2 patients; 5 errors")
    assert "only 3 patients" not in str(err)  # warnings are not errors


def test_report_ok_with_warnings_only():
    r = ValidationReport()
    r.warning("w")
    r.note("n")
    assert r.ok and r.counts() == {"error": 0, "warning": 1, "note": 1}
    r.raise_if_errors()


def test_cli_validate_json_lists_every_problem(tiny_cohort, capsys):
    df = pd.read_csv(tiny_cohort / schema.CLINICAL_FILE, dtype={"patient_id": str})
    df.loc[[1, 4], "sex"] = "X"
    df.to_csv(tiny_cohort / schema.CLINICAL_FILE, index=False)
    (tiny_cohort / schema.roi_relpath("NPC0003", "T1")).unlink()
    assert main(["-q", "validate", str(tiny_cohort), "--format", "json"]) == 2
    data = json.loads(capsys.readouterr().out)
    errors = [(p["file"], p["patient_id"], p["field"]) for p in data["problems"] if p["level"] == "error"]
    assert errors == [("clinical.csv", "NPC0002", "sex"), ("clinical.csv", "NPC0005", "sex"),
                      ("images/NPC0003/T1_roi.nii.gz", "NPC0003", "file")]


def test_cli_validate_text_prints_warnings_on_success(tiny_cohort, capsys):
    assert main(["-q", "validate", str(tiny_cohort)]) == 0
    out = capsys.readouterr().out
    assert "8 patients, valid (full check)" in out and "only 8 patients (under 100)" in out


def test_load_cohort_report_attached(tiny_cohort):
    cohort = load_cohort(tiny_cohort)
    assert cohort.report.ok and cohort.report.n_patients == 8
    assert cohort.endpoints == schema.ENDPOINTS and cohort.sequences == schema.SEQUENCES
    assert validate_cohort(tiny_cohort).to_dict()["sequences"] == list(schema.SEQUENCES)
