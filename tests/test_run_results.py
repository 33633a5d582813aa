"""Tests of npc_lib.run.results: typed chapter results, one registry, one writer, one reader."""

import dataclasses
import json
import math
from typing import ClassVar

import pytest

from npc_lib.run.results import (CHAPTERS, ChapterResults, as_results, read_all_results, read_results, register,
                                 results_class, write_results)
from npc_lib.run.results import chapters as rc
from npc_lib.run.results.records import CIndex, ClaimVerdict, EndpointComparison, RiskGroupComparison
from npc_lib.run.results.registry import ENDPOINTS, EXTERNAL_VALIDATION, MODELS, NOMOGRAM, REPLICATION


def _models():
    return rc.ModelsResults(n_train=42, n_test=18, cindex={"test": {"DL_T1_sig": {"c_index": 0.7, "p_value": 0.01}}},
                            clinic_vs_dl={"test": {"c_new": 0.7, "c_ref": 0.6, "p_value": 0.03, "df": 17}},
                            model_clinic_dl={"covariates": ["age"], "selected": ["age"]},
                            oracle_test={"truth: lp_total": 0.8}, proportional_hazards={"Model_clinic": None})


def test_results_fields_are_converted_and_checked_on_construction():
    m = _models()
    assert isinstance(m.cindex["test"]["DL_T1_sig"], CIndex) and m.cindex["test"]["DL_T1_sig"].lower is None
    assert m.clinic_vs_dl["test"].df == 17 and m.model_clinic_dl.fallback_used is False
    with pytest.raises(ValueError, match=r"05_models\.cindex\.test\.DL_T1_sig\.c_index: expected float or None"):
        rc.ModelsResults(cindex={"test": {"DL_T1_sig": {"c_index": "high"}}})
    with pytest.raises(ValueError, match=r"05_models\.cindex\.test\.m: unknown field\(s\) \['c'\]"):
        rc.ModelsResults(cindex={"test": {"m": {"c": 0.7}}})
    with pytest.raises(ValueError, match=r"01_cohort: field\(s\) \['dfs_event_rate'\] missing"):
        rc.CohortResults.from_dict({"n": 3, "n_train": 2, "n_test": 1, "dfs_events_train": 1, "dfs_events_test": 0})


def test_results_undefined_count_is_none_but_a_required_count_is_not():
    from npc_lib.run.results.records import CalibrationTest

    assert CalibrationTest(chi2=float("nan"), groups=float("nan")).groups is None  # too few patients to group
    assert math.isnan(CalibrationTest(chi2=float("nan")).chi2)  # a float stays NaN (null in JSON)
    from npc_lib.run.results.codec import coerce

    with pytest.raises(ValueError, match=r"x\.n: expected int, got nan"):
        coerce(int, float("nan"), "x.n")


def test_results_round_trip_through_the_writer_and_reader(tmp_path):
    m = _models()
    path = write_results(tmp_path, m)
    assert path == tmp_path / MODELS / "metrics.json"
    assert read_results(tmp_path, MODELS) == m
    g = rc.NomogramResults(risk_groups={"test": {"hr": float("nan"), "n_high": 3, "note": "no event"}},
                           risk_groups_skipped=None)
    write_results(tmp_path, g)
    back = read_results(tmp_path, NOMOGRAM)
    assert back.risk_groups["test"].hr is None and back.risk_groups["test"].n_high == 3  # NaN is null in JSON
    assert json.loads(path.read_text())["cindex"]["test"]["DL_T1_sig"]["c_index"] == 0.7
    assert set(read_all_results(tmp_path)) == {MODELS, NOMOGRAM}
    with pytest.raises(ValueError, match="chapter 07_endpoints_subgroups has not run"):
        read_results(tmp_path, ENDPOINTS)


def test_results_renamed_field_breaks_the_reader(tmp_path):
    """A field renamed in the library fails where results are read or built, in a test, not in a chapter."""
    write_results(tmp_path, _models())
    fields = [(f.name if f.name != "cindex" else "c_index_table", f.type, f) for f in dataclasses.fields(rc.ModelsResults)]
    renamed = dataclasses.make_dataclass("ModelsResults", [(n, t, dataclasses.field(default=f.default,
                                                                                     default_factory=f.default_factory))
                                                           for n, t, f in fields],
                                         bases=(ChapterResults,), frozen=True, kw_only=True,
                                         namespace={"chapter": MODELS, "__annotations__": {"chapter": ClassVar[str]}})
    data = json.loads((tmp_path / MODELS / "metrics.json").read_text())
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['cindex'\]"):
        renamed.from_dict(data)
    with pytest.raises(TypeError, match="unexpected keyword argument 'cindex'"):
        renamed(cindex={})  # a chapter that still writes the old name fails when it builds its results


def test_results_registry_names_every_chapter_once(monkeypatch):
    assert list(CHAPTERS)[:3] == ["00_intro", "01_cohort", "02_table1"]
    for name, cls in CHAPTERS.items():
        assert cls is not None and cls.chapter == name, f"{name}: every chapter of the book has typed results"
    assert results_class("book/05_models") is rc.ModelsResults
    with pytest.raises(ValueError, match="chapter '99_x' is not in the book"):
        results_class("99_x")
    assert results_class(EXTERNAL_VALIDATION).__name__ == "ExternalValidationResults"  # registered on import
    assert results_class(REPLICATION).__name__ == "ReplicationResults"
    monkeypatch.setitem(CHAPTERS, "99_demo", None)
    with pytest.raises(ValueError, match="no registered type"):
        results_class("99_demo")


def test_results_register_a_new_chapter(monkeypatch):
    @dataclasses.dataclass(frozen=True, kw_only=True)
    class DemoResults(ChapterResults):
        chapter: ClassVar[str] = "99_demo"
        c_index: float | None = None

    monkeypatch.setitem(CHAPTERS, "99_demo", None)
    assert register(DemoResults) is DemoResults
    assert as_results("99_demo", {"c_index": 0.7}).c_index == 0.7
    with pytest.raises(ValueError, match="already has results"):
        register(dataclasses.make_dataclass("Other", [], bases=(DemoResults,), frozen=True))


def test_results_replication_of_a_study_summary_and_of_none():
    import pandas as pd

    from npc_lib.runners.study_results import StudySummary, replication_results

    empty = replication_results(None)
    assert empty.study_dir is None and empty.claims == [] and empty.n_ok == 0
    claims = pd.DataFrame([{"claim_id": "fig3", "claim": "c", "chapter": ENDPOINTS, "assessed": 2, "held": 1,
                            "share_held": 0.5, "lower": 0.09, "upper": 0.91}])
    spread = pd.DataFrame([{"number": "hr", "label": "HR", "twins": 1, "replicates": 2, "sd_split_to_split": 0.1,
                            "sd_twin_to_twin": float("nan"), "share_twin_to_twin": float("nan"),
                            "twin_component_raw": float("nan"), "note": "one twin"}])
    reps = pd.DataFrame({"status": ["ok", "failed"]})
    study = StudySummary("/s", {}, reps, claims, pd.DataFrame(columns=["number"]), spread)
    r = replication_results(study)
    assert (r.n_ok, r.n_failed, r.study_dir) == (1, 1, "/s")
    assert r.claims[0].share_held == 0.5 and r.spread[0].sd_twin_to_twin is None
    assert json.loads(json.dumps(r.to_dict()))["claims"][0]["claim_id"] == "fig3"


def test_results_endpoint_rows_keep_their_rates():
    row = {"cohort": "test", "endpoint": "os", "n": 10, "hr": 2.5, "estimable": True, "note": "",
           "surv_high_36": 0.6, "lower_low_60": float("nan")}
    e = EndpointComparison.from_row(row)
    assert isinstance(e, RiskGroupComparison) and e.hr == 2.5 and e.estimable is True
    assert set(e.rates) == {"surv_high_36", "lower_low_60"} and math.isnan(e.rates["lower_low_60"])


def test_results_claim_verdict_is_checked_inside_results():
    ok = {"claim_id": "x", "claim": "c", "chapter": ENDPOINTS, "paper": "p", "ours": "o", "verdict": "held",
          "held": True}
    assert isinstance(rc.EndpointsResults(fig3_claim=ok).fig3_claim, ClaimVerdict)
    with pytest.raises(ValueError, match="disagree"):
        rc.EndpointsResults(fig3_claim={**ok, "held": False})
