"""Survival logic, units warnings, optional endpoints and run readiness (issue 10)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cohort_factory import make_tiny_cohort, tiny_clinical
from npc_lib.cohort import checks, schema
from npc_lib.cohort.load import CohortError, RUN_MIN_PATIENTS, check_run_ready, load_cohort, validate_cohort


def _root(tmp_path, df: pd.DataFrame):
    root = tmp_path / "c"
    root.mkdir(exist_ok=True)
    df.to_csv(root / schema.CLINICAL_FILE, index=False)
    return root


def _texts(report, level):
    return [p.text for p in report.problems if p.level == level]


def _row(df, i, **values):
    df = df.copy()
    for k, v in values.items():
        df[k] = df[k].astype(float) if isinstance(v, float) else df[k]
        df.loc[i, k] = v
    return df


@pytest.fixture
def clinical():
    return tiny_clinical(8)


# --------------------------------------------------------------------------- survival logic


def test_survival_valid_factory_rows_pass(tmp_path, clinical):
    report = validate_cohort(_root(tmp_path, clinical), check_images="none")
    assert report.ok, report.render()


def test_survival_dfs_longer_than_os(tmp_path, clinical):
    df = _row(clinical, 0, dfs_time=40.0, os_time=30.0, dmfs_time=40.0, lrfs_time=40.0)
    with pytest.raises(CohortError, match=r"patient NPC0001, field dfs_time: follow-up after the last follow-up: "
                                          r"dfs_time 40 is longer than os_time 30"):
        load_cohort(_root(tmp_path, df), check_images="none")


def test_survival_os_shorter_than_dfs_named(tmp_path, clinical):
    df = _row(clinical, 0, dfs_time=40.0, os_time=30.0, dmfs_time=40.0, lrfs_time=40.0)
    errors = _texts(validate_cohort(_root(tmp_path, df), check_images="none"), "error")
    assert any("field os_time: os_time 30 is shorter than dfs_time 40" in m for m in errors)


def test_survival_metastasis_after_last_follow_up(tmp_path, clinical):
    # patient 2 (NPC0003): give a metastasis 5 months after the last follow-up
    os_t = float(clinical.loc[2, "os_time"])
    df = _row(clinical, 2, dmfs_time=os_t + 5.0, dmfs_event=1, dfs_event=1)
    errors = _texts(validate_cohort(_root(tmp_path, df), check_images="none"), "error")
    assert any(f"patient NPC0003, field dmfs_time: event after the last follow-up: dmfs_time {os_t + 5:g} "
               f"is longer than os_time {os_t:g}" in m for m in errors), errors


def test_survival_death_without_dfs_event(tmp_path, clinical):
    t = float(clinical.loc[0, "os_time"])
    df = _row(clinical, 0, os_event=1, dfs_event=0, dfs_time=t)
    with pytest.raises(CohortError, match=r"patient NPC0001, field dfs_event: dfs_event 0 although os_event 1 "
                                          r"\(a death is a DFS event\)"):
        load_cohort(_root(tmp_path, df), check_images="none")


def test_survival_lrfs_event_without_dfs_event(tmp_path, clinical):
    df = _row(clinical, 0, lrfs_event=1)
    errors = _texts(validate_cohort(_root(tmp_path, df), check_images="none"), "error")
    assert any("dfs_event 0 although lrfs_event 1 (a locoregional relapse is a DFS event)" in m for m in errors)


def test_survival_dfs_event_matches_no_other_event(tmp_path, clinical):
    # NPC0002 relapses, metastasises and dies: move its DFS event 2 months earlier than all of them
    t = float(clinical.loc[1, "dfs_time"])
    df = _row(clinical, 1, dfs_time=t - 2.0)
    with pytest.raises(CohortError, match=r"patient NPC0002, field dfs_event: dfs_event 1 at dfs_time .* but no OS, "
                                          r"DMFS or LRFS event at that time"):
        load_cohort(_root(tmp_path, df), check_images="none")


def test_survival_equalities_within_rounding(tmp_path, clinical):
    t = float(clinical.loc[1, "dfs_time"])
    df = _row(clinical, 1, dfs_time=t + checks.TIME_TOL_MONTHS * 0.9)
    assert validate_cohort(_root(tmp_path, df), check_images="none").ok
    df = _row(clinical, 1, dfs_time=t + checks.TIME_TOL_MONTHS * 3)
    assert not validate_cohort(_root(tmp_path, df), check_images="none").ok


def test_survival_rows_with_bad_cells_get_no_extra_error(tmp_path, clinical):
    df = clinical.astype({"os_time": object})
    df.loc[0, "os_time"] = "soon"
    errors = _texts(validate_cohort(_root(tmp_path, df), check_images="none"), "error")
    assert errors == ["clinical.csv: patient NPC0001, field os_time: non-numeric value 'soon'"]


# --------------------------------------------------------------------------- optional endpoints


def test_endpoints_optional_pairs_absent(tmp_path, clinical):
    df = clinical.drop(columns=["os_time", "os_event", "lrfs_time", "lrfs_event"])
    cohort = load_cohort(_root(tmp_path, df), check_images="none")
    assert cohort.endpoints == ("dfs", "dmfs")
    assert "os_time" not in cohort.clinical.columns
    notes = _texts(cohort.report, "note")
    assert any("endpoint OS absent (os_time, os_event): its analyses are skipped" in m for m in notes)


def test_endpoints_half_a_pair_is_an_error(tmp_path, clinical):
    with pytest.raises(CohortError, match=r"field dmfs_event: required column missing \(dmfs_time is present"):
        load_cohort(_root(tmp_path, clinical.drop(columns=["dmfs_event"])), check_images="none")


def test_endpoints_dfs_is_required(tmp_path, clinical):
    with pytest.raises(CohortError, match=r"field dfs_time: required column missing"):
        load_cohort(_root(tmp_path, clinical.drop(columns=["dfs_time"])), check_images="none")


# --------------------------------------------------------------------------- warnings


def test_warning_times_in_days(tmp_path, clinical):
    df = clinical.copy()
    for e in schema.ENDPOINTS:
        df[schema.time_col(e)] = (df[schema.time_col(e)] * 30).round(0)
    cohort = load_cohort(_root(tmp_path, df), check_images="none")  # a warning, not an error
    warns = _texts(cohort.report, "warning")
    assert any("field dfs_time: times look like days, not months" in m and "units: {dfs_time: days}" in m
               for m in warns), warns


def test_warning_days_threshold(tmp_path, clinical):
    df = clinical.copy()
    for e in schema.ENDPOINTS:
        df[schema.time_col(e)] = checks.DAYS_MEDIAN_MONTHS - 1.0
    assert not any("look like days" in m for m in _texts(validate_cohort(_root(tmp_path, df), check_images="none"),
                                                          "warning"))
    df["dfs_time"] = df["os_time"] = df["dmfs_time"] = df["lrfs_time"] = checks.DAYS_MEDIAN_MONTHS + 1.0
    assert any("look like days" in m for m in _texts(validate_cohort(_root(tmp_path, df), check_images="none"),
                                                      "warning"))


@pytest.mark.parametrize("column, factor, unit", [("hgb", 0.1, "g/dL"), ("alb", 0.1, "g/dL"),
                                                  ("hgb", 1 / 16.11, "mmol/L"), ("ldh", 1 / 60, "µkat/L")])
def test_warning_lab_units(tmp_path, clinical, column, factor, unit):
    df = clinical.copy()
    df[column] = (df[column] * factor).round(2)
    warns = _texts(load_cohort(_root(tmp_path, df), check_images="none").report, "warning")
    assert any(f"field {column}: values look like" in m and unit in m for m in warns), warns


def test_warning_small_cohort_and_few_events(tmp_path, clinical):
    warns = _texts(validate_cohort(_root(tmp_path, clinical), check_images="none"), "warning")
    assert f"clinical.csv: only 8 patients (under {checks.SMALL_COHORT_PATIENTS}): the analyses will be unstable" in warns
    assert any(f"field dfs_event: only {int(clinical['dfs_event'].sum())} DFS events (under 20)" in m for m in warns)


def test_warning_no_cohort_size_warning_at_threshold(tmp_path):
    df = tiny_clinical(checks.SMALL_COHORT_PATIENTS, seed=2)
    warns = _texts(validate_cohort(_root(tmp_path, df), check_images="none"), "warning")
    assert not any("patients (under" in m for m in warns)


def test_warning_endpoint_without_events(tmp_path, clinical):
    df = clinical.copy()
    df["lrfs_event"] = 0
    df["lrfs_time"] = df["os_time"]
    warns = _texts(validate_cohort(_root(tmp_path, df), check_images="none"), "warning")
    assert "clinical.csv: field lrfs_event: no LRFS event: its analyses cannot be fitted" in warns


def test_warnings_are_not_python_warnings(tmp_path, clinical, recwarn):
    df = clinical.copy()
    df["hgb"] = df["hgb"] / 10
    load_cohort(_root(tmp_path, df), check_images="none")
    assert len(recwarn) == 0


# --------------------------------------------------------------------------- run readiness


def test_run_ready_three_patients_is_an_error(tmp_path):
    root = make_tiny_cohort(tmp_path / "c", n=3)
    assert validate_cohort(root).ok  # npc validate: warnings only
    with pytest.raises(CohortError, match=rf"only 3 patients: too few to split into training and test cohorts "
                                          rf"\(at least {RUN_MIN_PATIENTS}\)"):
        check_run_ready(root)


def test_run_ready_no_dfs_event_is_an_error(tmp_path):
    root = make_tiny_cohort(tmp_path / "c", n=12)
    df = pd.read_csv(root / schema.CLINICAL_FILE, dtype={"patient_id": str})
    for e in schema.ENDPOINTS:
        df[schema.event_col(e)] = 0
        df[schema.time_col(e)] = df["os_time"]
    df.to_csv(root / schema.CLINICAL_FILE, index=False)
    report = validate_cohort(root)
    assert report.ok and any("no DFS event" in m for m in _texts(report, "warning"))
    with pytest.raises(CohortError, match=r"field dfs_event: no DFS event: no survival model can be fitted"):
        check_run_ready(root)


def test_run_ready_returns_cohort(tmp_path):
    root = make_tiny_cohort(tmp_path / "c", n=12)
    cohort = check_run_ready(root, check_images="header")
    assert len(cohort.patient_ids) == 12 and cohort.sequences == schema.SEQUENCES
    assert np.all(np.isin(cohort.clinical["dfs_event"], [0, 1]))
