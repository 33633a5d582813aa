"""Every chapter executed with papermill on the smoke profile, then the book built."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from npc_lib.run import Run, resolve_profile
from npc_lib.runners.book import build_book, chapters, run_chapters

pytestmark = pytest.mark.notebooks


def _metrics(run: Path, chapter: str) -> dict:
    return json.loads((run / chapter / "metrics.json").read_text())


def test_notebooks_every_chapter_writes_metrics(smoke_run):
    from npc_lib.run.results import CHAPTERS, read_all_results

    for c in chapters():
        name = Path(c).name
        assert (smoke_run / "notebooks" / f"{name}.ipynb").is_file()
        assert isinstance(_metrics(smoke_run, name), dict)
    typed = read_all_results(smoke_run)  # every typed chapter's results read back and checked
    assert set(typed) == {Path(c).name for c in chapters() if CHAPTERS.get(Path(c).name) is not None}


def test_notebooks_cohort_chapter_metrics(smoke_run):
    m = _metrics(smoke_run, "01_cohort")
    cfg = resolve_profile("smoke")
    n = cfg.cohort.n_patients
    assert m["n"] == n
    assert m["n_train"] + m["n_test"] == n
    assert m["n_train"] == round(n * cfg.split.train_fraction)
    assert Run.open(smoke_run).config == cfg
    assert 0 < m["dfs_event_rate"] < 0.5
    assert len(m["scanners"]) == 3
    assert (smoke_run / "split.csv").is_file()
    assert (smoke_run / "01_cohort" / "example_slices.html").is_file()


def test_notebooks_table1_chapter_metrics(smoke_run):
    m = _metrics(smoke_run, "02_table1")
    assert m["n_rows"] >= 20
    assert all(t.split(" (")[0] in {"Welch t-test", "Wilcoxon rank-sum", "Pearson chi-square", "Fisher exact"} for t in m["tests_used"])
    assert all(0 <= p <= 1 for p in m["p_values"].values())


def test_notebooks_rerun_reuses_results(smoke_run):
    before = {p: p.stat().st_mtime_ns for p in (smoke_run / "notebooks").glob("*.ipynb")}
    run_chapters("smoke", out=smoke_run, progress=False)
    after = {p: p.stat().st_mtime_ns for p in (smoke_run / "notebooks").glob("*.ipynb")}
    assert before == after


def test_notebooks_book_builds_offline(smoke_run, tmp_path):
    html = build_book(smoke_run, out=tmp_path / "build")
    pages = list(html.rglob("*.html"))
    assert (html / "index.html").is_file() and len(pages) >= len(chapters())
    assert (html / "_static" / "plotly.min.js").is_file()
    remote = re.compile(r'<script[^>]*src="(https?:)?//|<link[^>]*href="(https?:)?//[^"]*\.(css|js)')
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert not remote.search(text), f"{page.name} loads a script or stylesheet from the network"
        assert "unpkg.com" not in text and "cdn.plot.ly" not in text and "cdn.jsdelivr" not in text, page.name
    cohort_page = (html / "book" / "01_cohort.html").read_text(encoding="utf-8")
    assert "Plotly.newPlot" in cohort_page


def test_notebooks_preprocessing_aligns_scanners(smoke_run):
    m = _metrics(smoke_run, "03_preprocessing")
    for seq in ("T1", "T2", "T1C"):
        assert m["max_spread_standardised"][seq] < 0.25 * m["max_spread_raw"][seq]
        assert (smoke_run / "03_preprocessing" / f"before_after_{seq}.html").is_file()


def test_notebooks_models_chapter_metrics(smoke_run):
    m = _metrics(smoke_run, "05_models")
    assert m["n_train"] + m["n_test"] == resolve_profile("smoke").cohort.n_patients
    names = {"DL_T1_sig", "DL_T2_sig", "DL_T1C_sig", "Model_clinic", "Model_clinic+dl"}
    for cohort in ("train", "test"):
        assert set(m["cindex"][cohort]) == names
        for r in m["cindex"][cohort].values():
            assert r["c_index"] is None or 0.0 <= r["c_index"] <= 1.0
        assert set(m["clinic_vs_dl"][cohort]) >= {"c_new", "c_ref", "p_value", "note"}
    dl = m["model_clinic_dl"]
    assert dl["covariates"] and (dl["fallback_used"] or dl["covariates"] == dl["selected"])
    assert m["cindex"]["train"]["Model_clinic+dl"]["c_index"] > 0.5
    assert m["bootstrap"] is None or 0.0 <= m["bootstrap"]["corrected"] <= 1.0
    models = json.loads((smoke_run / "05_models" / "models.json").read_text())
    assert set(models["models"]) == {"Model_clinic", "Model_clinic+dl"}
    assert models["models"]["Model_clinic+dl"]["covariates"] == dl["covariates"]


def test_notebooks_models_chapter_oracle(smoke_run):
    m = _metrics(smoke_run, "05_models")
    # the simulated twin has truth.csv, so the oracle section runs
    assert (smoke_run / "05_models" / "oracle_cindex_test.csv").is_file()
    assert 0.5 < m["oracle_test"]["truth: lp_total"] <= 1.0


def test_notebooks_nomogram_chapter_metrics(smoke_run):
    m = _metrics(smoke_run, "06_nomogram")
    assert m["nomogram"]["covariates"] == _metrics(smoke_run, "05_models")["model_clinic_dl"]["covariates"]
    assert max(m["nomogram"]["max_points"].values()) == pytest.approx(100.0)
    assert 0.0 < m["example"]["dfs_5y"] <= m["example"]["dfs_3y"] <= 1.0
    assert 0.2 - 1e-9 <= m["cutoff"]["share_high_train"] <= 0.8 + 1e-9
    for cohort in ("train", "test"):
        rg = m["risk_groups"][cohort]
        assert rg["n_high"] + rg["n_low"] == _metrics(smoke_run, "05_models")[f"n_{cohort}"]
        assert rg["hr"] is None or rg["hr"] > 0
        for t in ("36", "60"):
            assert all(a is None or 0.0 <= a <= 1.0 for a in m["td_auc"][cohort][t].values())
    for name in ("nomogram.html", "nomogram.json", "calibration_train.html", "calibration_test.html",
                 "km_risk_groups_train.html", "km_risk_groups_test.html", "td_roc.html", "decision_curve_test.html"):
        assert (smoke_run / "06_nomogram" / name).is_file(), name


def test_notebooks_signatures_chapter_metrics(smoke_run):
    m = _metrics(smoke_run, "04_signatures")
    assert set(m["signatures"]) == {"T1", "T2", "T1C"}
    for seq, s in m["signatures"].items():
        assert 0.0 <= s["train_c_index"] <= 1.0 and 0.0 <= s["test_c_index"] <= 1.0
        assert s["n_instances"] > 0
        assert (smoke_run / "04_signatures" / f"signature_{seq}.csv").is_file()
    assert set(m["oracle"]) == {"T1", "T2", "T1C"}
    assert len(m["crossval_c_index"]) == 3  # smoke: one sequence, 3 folds
    assert (smoke_run / "04_signatures" / "gradcam_T1.html").is_file()


def test_notebooks_custom_profile_reaches_training(tmp_path):
    """A YAML profile of another name: its training and split settings are what chapter 04 uses."""
    f = tmp_path / "mine.yml"
    f.write_text("profile: mine\ntrain_preset: smoke\nn_patients: 60\ncohort_seed: 0\nsplit_seed: 7\n"
                 "train_fraction: 0.6\ntrain:\n  epochs_pretrain: 1\n  epochs_cox: 1\n"
                 "chapters:\n  04_signatures: {sequences: T2, crossval_sequences: '', attention_patients: 1}\n")
    run_dir = run_chapters(f, out=tmp_path / "run", only=["04_signatures"], progress=False)
    cohort = _metrics(run_dir, "01_cohort")
    assert (cohort["n_train"], cohort["split_seed"]) == (36, 7)
    trained = json.loads((run_dir / "04_signatures" / "metrics_T2.json").read_text())
    assert trained["config"]["epochs_cox"] == 1 and trained["config"]["epochs_pretrain"] == 1
    assert trained["n_train"] == 36
    assert Run.open(run_dir).config.name == "mine"


def test_notebooks_models_chapter_proportional_hazards(smoke_run):
    m = _metrics(smoke_run, "05_models")
    for name, p in m["proportional_hazards"].items():
        assert p is None or ("GLOBAL" in p and all(v is None or 0.0 <= v <= 1.0 for v in p.values()))
    assert (smoke_run / "05_models" / "proportional_hazards_test.csv").is_file()


def test_notebooks_nomogram_chapter_tripod_measures(smoke_run):
    m = _metrics(smoke_run, "06_nomogram")
    perf = m["prediction_performance"]
    assert set(perf) == {"train", "test"} and set(perf["train"]) == {"nomogram", "oracle"}
    for measure in ("Uno's C", "Brier at 36", "IPA at 60", "integrated Brier to 60", "ICI at 36", "E90 at 60"):
        r = perf["train"]["nomogram"][measure]
        assert r["estimate"] is not None
        assert r["lower"] is None or r["lower"] <= r["upper"]  # a percentile CI need not hold a biased estimate
    assert perf["train"]["oracle"]["Brier at 36"]["estimate"] <= perf["train"]["nomogram"]["Brier at 36"]["estimate"] + 0.05
    groups = Run.open(smoke_run).risk_groups()
    assert set(groups["high_risk"]) <= {0, 1} and len(groups) == m["risk_groups"]["train"]["n_high"] + \
        m["risk_groups"]["train"]["n_low"] + m["risk_groups"]["test"]["n_high"] + m["risk_groups"]["test"]["n_low"]


def test_notebooks_endpoints_subgroups_chapter(smoke_run):
    m = _metrics(smoke_run, "07_endpoints_subgroups")
    for cohort in ("train", "test"):
        assert {"os", "dmfs", "lrfs"} <= {e.lower() for e in m["endpoints"][cohort]}
        assert set(m["subgroups"][cohort]) == {"family_history", "sex", "crp_group", "hgb_group", "smoking"}
        for it in m["interactions"][cohort].values():
            assert it["p"] is None or 0.0 <= it["p"] <= 1.0
    assert isinstance(m["fig3_claim"]["held"], bool)


def test_notebooks_radiomics_chapter(smoke_run):
    m = _metrics(smoke_run, "08_radiomics")
    if m["skipped"]:
        pytest.skip(f"PyRadiomics unavailable: {m['skipped']}")
    assert set(m["cindex"]) >= {"HC_T1_sig", "HC_T2_sig", "HC_T1C_sig", "HC_combined_sig"}
    assert m["extraction"]["n_patients"] == resolve_profile("smoke").cohort.n_patients
    assert m["appendix_c_claim"]["verdict"] in {"held", "not held"}


def test_notebooks_calculator_chapter_and_readme_command(smoke_run, capsys):
    from npc_lib.cli import main

    m = _metrics(smoke_run, "09_calculator")
    assert m["cli_status"] == 0 and m["format"] == "npc-nomogram/3"
    page = (smoke_run / "09_calculator" / "calculator.html").read_text(encoding="utf-8")
    assert "<form" in page and "fetch(" not in page
    model = str(smoke_run / "06_nomogram" / "nomogram.json")
    args = ["nomogram", "--model", model, "--fill-missing", "--json"]
    for k, v in m["example"]["inputs"].items():
        args += ["--value", f"{k}={v}"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["total_points"] == pytest.approx(m["example"]["total_points"], rel=1e-12)


def test_notebooks_reproduction_and_tripod_chapters(smoke_run):
    m = _metrics(smoke_run, "12_reproduction")
    assert set(m["verdicts"].values()) <= {"held", "not held", "not assessed"}
    assert len(m["verdicts"]) >= 9 and m["n_numbers"] >= 40
    assert "not assessed" not in m["verdicts"].values()  # every chapter ran
    t = _metrics(smoke_run, "13_tripod")
    assert sum(t["status_counts"].values()) == t["subitems"] == 52


@pytest.fixture(scope="module")
def run_without_covariates(smoke_run, tmp_path_factory):
    """A copy of the smoke run forced into degenerate results by construction (chapters 05-13 again).

    Model_clinic+dl is fixed to no covariate (chapter 05's knob) and the T1
    signature is made constant (every patient scores 0.25), whatever this
    machine's floating-point path gave.
    """
    import shutil

    import pandas as pd

    from npc_lib.runners.book import rerun_chapters

    run = tmp_path_factory.mktemp("run_no_covariate") / "run"
    shutil.copytree(smoke_run, run, ignore=shutil.ignore_patterns("checkpoints*"))
    sig = run / "04_signatures" / "signature_T1.csv"
    pd.read_csv(sig).assign(risk=0.25).to_csv(sig, index=False)
    return rerun_chapters(run, first="05_models", parameters={"05_models": {"model_clinic_dl_covariates": "none"}})


def test_notebooks_model_without_covariate_every_chapter_says_what_it_skipped(run_without_covariates):
    run = run_without_covariates
    m05 = _metrics(run, "05_models")
    assert m05["model_clinic_dl"]["covariates"] == [] and not m05["model_clinic_dl"]["fallback_used"]
    assert json.loads((run / "05_models" / "models.json").read_text())["models"]["Model_clinic+dl"]["covariates"] == []
    m06 = _metrics(run, "06_nomogram")
    assert m06["nomogram"] is None and m06["cutoff"] is None and m06["risk_groups"] == {}
    assert "no covariate" in m06["nomogram_skipped"] and m06["risk_groups_skipped"] == m06["nomogram_skipped"]
    assert not (run / "06_nomogram" / "nomogram.json").exists()  # the smoke run's file is removed, not left stale
    assert not (run / "06_nomogram" / "patient_risk_groups.csv").exists()
    m07 = _metrics(run, "07_endpoints_subgroups")
    assert m07["skipped"] == m06["nomogram_skipped"] and m07["endpoints"] == {} and m07["subgroups"] == {}
    assert m07["fig3_claim"]["verdict"] == m07["figD2_claim"]["verdict"] == "not assessed"
    m09 = _metrics(run, "09_calculator")
    assert m09["skipped"] == m06["nomogram_skipped"] and m09["example"] is None and m09["cli_status"] is None
    page = (run / "notebooks" / "09_calculator.ipynb").read_text()
    assert "no calculator: chapter 06 wrote no nomogram.json" in page
    claims = {c["claim_id"]: c for c in _metrics(run, "12_reproduction")["claims"]}
    for k in ("risk_groups_train", "risk_groups_test", "fig3_secondary_endpoints", "figD2_subgroups"):
        assert claims[k]["verdict"] == "not assessed" and "no covariate" in claims[k]["ours"], k
    assert claims["signatures_train"]["verdict"] in {"held", "not held"}
    # the constant T1 signature: no C-index, left out of the models with a note, compared with nothing
    assert m05["cindex"]["test"]["DL_T1_sig"]["c_index"] is None
    assert "risk is constant" in (run / "notebooks" / "05_models.ipynb").read_text()  # said in the C table
    assert "constant" in _metrics(run, "08_radiomics")["comparisons"]["test"]["DL_T1_sig vs HC_T1_sig"]["note"]
    assert _metrics(run, "13_tripod")["subitems"] == 52
    m10 = _metrics(run, "10_external_validation")  # the signatures still travel; no nomogram to validate or update
    assert "no covariate" in m10["skipped"] and m10["locked"] is None and m10["updates"] == {}
    assert set(m10["signatures"]) == {"DL_T1_sig", "DL_T2_sig", "DL_T1C_sig"}


def test_notebooks_external_validation_chapter(smoke_run):
    from npc_lib.run.bundle import load_bundle
    from npc_lib.run.reproduction import reproduction_table
    from npc_lib.run.results import read_all_results
    from npc_lib.stats.nomogram_export import NomogramCalculator, read_nomogram_model

    m = _metrics(smoke_run, "10_external_validation")
    cfg = resolve_profile("smoke").chapter_parameters("10_external_validation")
    assert m["skipped"] is None and m["cohort"]["twin"] and m["cohort"]["n"] == cfg["external_n_patients"]
    assert set(m["cohort"]["scanners"]) == {"D", "E"}  # the second centre's scanners
    for rec in (m["locked"], m["oracle"]):
        assert rec["n"] == m["cohort"]["n"] and set(rec["oe"]) == {"36", "60"}
    assert m["oracle"]["harrell"]["estimate"] > 0.6  # the twin's true risk model, at the second centre
    for model in ("nomogram", "oracle"):
        assert {"Harrell's C", "Uno's C", "td-AUC at 36", "td-AUC at 60", "ICI at 60", "E90 at 36"} <= set(
            m["performance"][model])
    assert m["risk_groups"]["n_high"] + m["risk_groups"]["n_low"] == m["cohort"]["n"]
    for sig in ("DL_T1_sig", "DL_T2_sig", "DL_T1C_sig"):
        assert set(m["signatures"][sig]) == {"development_test", "development_test_oracle", "external",
                                             "external_refitted", "external_oracle"}
    assert set(m["harmonisation"]) == {"locked", "refitted"}
    assert m["harmonisation"]["locked"] == m["locked"]
    # updates: made on one part of the external patients, judged on the other, each a model file and a bundle
    split = m["update_split"]
    assert split["update"] + split["evaluate"] == m["cohort"]["n"]
    assert m["locked_on_evaluation"]["n"] == split["evaluate"]
    made = set(m["updates"])
    assert made | {n.split(":")[0] for n in m["update_notes"] if "not made" in n} == {"baseline", "recalibration",
                                                                                     "refit"}
    parent_sha = m["bundle_sha256"]
    for kind, u in m["updates"].items():
        assert u["evaluation"]["n"] == split["evaluate"] and u["update"]["kind"] == kind
        assert u["update"]["n"] == split["update"]
        doc = read_nomogram_model(smoke_run / u["model_file"])
        assert doc["update"]["kind"] == kind and doc["parent"]["sha256"] == parent_sha
        NomogramCalculator.from_model(doc)
        b = load_bundle(smoke_run / u["bundle"])  # every hash checked
        assert b.manifest["parent"]["sha256"] == parent_sha and b.nomogram["update"]["kind"] == kind
    # `npc predict` reads a derived bundle unchanged: its predictions are the updated model file's
    _external_predictions_agree(smoke_run, m)
    # the validation items reach the reproduction report and the TRIPOD+AI page
    table = reproduction_table(read_all_results(smoke_run))
    assert (table.section == "External validation").sum() >= 4
    tripod = _metrics(smoke_run, "13_tripod")["status"]
    assert tripod["12f"] == tripod["24"] == "answered"


def _external_predictions_agree(run_dir, m):
    """The bundles' own predictions (npc_lib.run.predict) of five external patients equal the chapter's path."""
    import warnings

    from npc_lib.run import Run
    from npc_lib.run.bundle import load_bundle
    from npc_lib.run.external import (ExternalSettings, ensure_external_cohort, external_frame, external_signatures,
                                      load_external_cohort)
    from npc_lib.run.predict import OutsideDevelopmentWarning, predict
    from npc_lib.run.updating import model_predictions

    settings = ExternalSettings.from_parameters(Run.open(run_dir).config.chapter_parameters("10_external_validation"))
    folder, _ = ensure_external_cohort(settings)
    kind = next(iter(m["updates"]))
    bundle = load_bundle(run_dir / m["updates"][kind]["bundle"])
    cohort = load_external_cohort(settings, folder, sequences=bundle.sequences)
    ids = list(cohort.patient_ids)[:5]
    ours = external_signatures(bundle.signature_dir, cohort, bundle.sequences, patient_ids=ids).locked
    with warnings.catch_warnings():  # the second centre's images lie outside the development ranges: the point
        warnings.simplefilter("ignore", OutsideDevelopmentWarning)
        theirs = predict(bundle, cohort, patient_ids=ids)
    for s in bundle.signatures:
        np.testing.assert_allclose(theirs[s], ours[s], rtol=1e-5, atol=1e-6)
    frame = external_frame(cohort, None).set_index("patient_id").loc[ids].reset_index().assign(
        **{s: ours[s].to_numpy() for s in bundle.signatures})
    mine = model_predictions(bundle.nomogram, frame, [36, 60])
    np.testing.assert_allclose(theirs["dfs_60"], mine["surv_60"], rtol=1e-6)
    np.testing.assert_allclose(theirs["total_points"], mine["total_points"], rtol=1e-6, atol=1e-6)
