"""npc_lib.runners.replicate and study_results: the replication study on a Dask LocalCluster.

The study tests execute the smoke profile's first chapters only (``01_cohort``: the
twin, its validation and the split), on 2 worker processes; one replicate fails on
purpose (a corrupt ``run.json``), one is deleted and the study resumed.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from npc_lib._io import write_json
from npc_lib.cli import main
from npc_lib.run import Run, resolve_profile
from npc_lib.runners.replicate import (RECORD_FILE, STUDY_FILE, Replicate, Study, kernel_start_failure, parse_seeds,
                                       progress_line, read_study, replicate_done, replicate_profile, run_study,
                                       run_replicate, study_from_seeds)
from npc_lib.runners.study_results import (HEADLINES, REPLICATES_FILE, VERDICTS_FILE, claim_verdicts_of,
                                           collect_study, execute_replication_chapter, headline_numbers,
                                           headline_values, summarize_study, write_study_tables)

CHAPTERS = ["01_cohort"]


# -- the study's description --------------------------------------------------------------------
def test_parse_seeds_ranges_and_lists():
    assert parse_seeds("11-13, 20") == [11, 12, 13, 20]
    assert parse_seeds([1, "3-4"]) == [1, 3, 4]
    for bad, match in (("x", "expected seeds"), ("5-3", "empty range"), ("1,1", "twice")):
        with pytest.raises(ValueError, match=match):
            parse_seeds(bad)


def test_study_from_seeds_crosses_twins_and_profile_splits():
    study = study_from_seeds("smoke", "11-12", splits=2, chapters=CHAPTERS)
    first = resolve_profile("smoke").split.seed
    assert study.replicates == (Replicate(11, first), Replicate(11, first + 1), Replicate(12, first),
                                Replicate(12, first + 1))
    assert study.chapters_run() == ["00_intro", "01_cohort"]
    cfg = study.config(Replicate(12, 7))
    assert (cfg.cohort.seed, cfg.split.seed, cfg.name) == (12, 7, "smoke")
    assert cfg.chapters["04_signatures"]["crossval_sequences"] == ""  # cross-validation left out by default


def test_study_rejects_bad_settings():
    with pytest.raises(ValueError, match="unknown chapter"):
        study_from_seeds("smoke", "1", splits=1, chapters=["99_nothing"])
    with pytest.raises(ValueError, match="twice"):
        Study("smoke", (Replicate(1, 2), Replicate(1, 2)), chapters=tuple(CHAPTERS))
    with pytest.raises(ValueError, match="either splits"):
        study_from_seeds("smoke", "1", chapters=CHAPTERS)
    with pytest.raises(ValueError, match="threads"):
        study_from_seeds("smoke", "1", splits=1, chapters=CHAPTERS, threads=0)


def test_read_study_file_and_its_errors(tmp_path):
    path = tmp_path / "study.yml"
    path.write_text("profile: smoke\ntwins: 3-4\nsplit_seeds: [5, 9]\nchapters: [01_cohort]\nthreads: 2\n")
    study = read_study(path)
    assert [r.name for r in study.replicates] == ["twin3_split5", "twin3_split9", "twin4_split5", "twin4_split9"]
    assert study.threads == 2 and study.chapters == ("01_cohort",)
    path.write_text("twins: 1\nsplitz: 2\n")
    with pytest.raises(ValueError, match=r"study\.yml: unknown key\(s\) \['splitz'\]; the key 'profile' is required"):
        read_study(path)


def test_replicate_profile_repeats_the_configuration(tmp_path):
    cfg = study_from_seeds("smoke", "5", splits=1, chapters=CHAPTERS).config(Replicate(5, 2020))
    again = resolve_profile(replicate_profile(cfg))
    assert again.to_dict() == {**cfg.to_dict(), "source": "mapping"}


def test_kernel_start_failure_tells_start_races_from_failing_cells():
    assert kernel_start_failure(RuntimeError("Kernel died before replying to kernel_info"))
    assert kernel_start_failure(OSError("zmq.error.ZMQError: Address already in use"))
    assert not kernel_start_failure(ValueError("cohort: 3 patients are too few"))
    cell_error = type("PapermillExecutionError", (Exception,), {})("ZMQError: Address already in use in a cell")
    assert not kernel_start_failure(cell_error)


def test_progress_line_counts_and_eta():
    assert progress_line(0, 0, 2, 5, [], slots=2) == "replicates: 0/5 done, 2 running, 0 failed, 3 queued; ETA unknown"
    assert progress_line(4, 1, 0, 5, [10.0], slots=2).endswith("0 running, 1 failed, 0 queued; ETA 0 s")
    assert progress_line(2, 0, 2, 12, [3000.0], slots=2).endswith("8 queued; ETA 4 h 10 min")  # 5 waves left


# -- reading a replicate ------------------------------------------------------------------------
def _fake_run(run_dir: Path, c_dl: float, hr: float, p: float) -> Path:
    sig = {s: {"c_index": c, "p_value": 0.01} for s, c in (("DL_T1_sig", 0.7), ("DL_T2_sig", 0.6),
                                                           ("DL_T1C_sig", 0.65))}
    cindex = {"test": {**sig, "Model_clinic": {"c_index": 0.6, "p_value": 0.2},
                       "Model_clinic+dl": {"c_index": c_dl, "p_value": 0.001}}}
    write_json({"cindex": cindex, "oracle_test": {"truth: lp_T1": 0.8, "truth: lp_T2": 0.75, "truth: lp_T1C": None},
                "clinic_vs_dl": {"test": {"c_new": c_dl, "c_ref": 0.6, "p_value": p}}},
               run_dir / "05_models" / "metrics.json")
    write_json({"risk_groups": {"test": {"hr": hr, "logrank_p": 0.01, "surv_high": 0.6, "surv_low": 0.9}}},
               run_dir / "06_nomogram" / "metrics.json")
    return run_dir


def test_headline_numbers_read_from_metrics(tmp_path):
    h = headline_numbers(_fake_run(tmp_path / "r", c_dl=0.72, hr=3.0, p=0.03))
    assert list(h) == list(HEADLINES["number"])
    assert h["oracle_ratio_DL_T1_sig"] == pytest.approx(0.7 / 0.8)
    assert np.isnan(h["oracle_ratio_DL_T1C_sig"])  # no oracle: NaN, not an error
    assert h["c_diff_test"] == pytest.approx(0.12) and h["p_clinic_vs_dl_test"] == 0.03
    assert (h["hr_test"], h["dfs5_high_test"], h["dfs5_low_test"]) == (3.0, 60.0, 90.0)
    assert all(np.isnan(v) for v in headline_numbers(tmp_path).values())  # no chapter ran


def test_study_tables_from_records(tmp_path):
    """Claims' shares, headline distributions and the spread decomposition, from the records alone."""
    write_json({"profile": "smoke", "chapters": ["06_nomogram"]}, tmp_path / STUDY_FILE)
    rng = np.random.default_rng(0)
    for twin in (1, 2, 3):
        for split in (10, 11):
            rep = Replicate(twin, split)
            run = _fake_run(tmp_path / "runs" / rep.name, c_dl=0.7 + 0.05 * twin + rng.normal(0, 0.01),
                            hr=2.0, p=0.01 if split == 10 else 0.2)
            write_json({"replicate": rep.name, "twin_seed": twin, "split_seed": split, "status": "ok", "error": "",
                        "seconds": 1.0, "worker": "w", "headlines": headline_numbers(run),
                        "verdicts": claim_verdicts_of(run)}, tmp_path / rep.name / RECORD_FILE)
    write_json({"replicate": "twin4_split10", "twin_seed": 4, "split_seed": 10, "status": "failed",
                "error": "ValueError: boom", "headlines": {}, "verdicts": []}, tmp_path / "twin4_split10" / RECORD_FILE)
    reps = write_study_tables(tmp_path)
    assert len(reps) == 7 and (reps["status"] == "failed").sum() == 1
    assert pd.read_csv(tmp_path / REPLICATES_FILE).shape == reps.shape
    verdicts = pd.read_csv(tmp_path / VERDICTS_FILE)
    assert set(verdicts["replicate"]) == {f"twin{t}_split{s}" for t in (1, 2, 3) for s in (10, 11)}
    summary = summarize_study(tmp_path)
    assert (summary.n_ok, summary.n_failed) == (6, 1)
    improved = summary.claims.set_index("claim_id").loc["improves_test"]
    assert (improved.assessed, improved.held, improved.share_held) == (6, 3, 0.5)
    assert improved.lower < 0.5 < improved.upper
    fig3 = summary.claims.set_index("claim_id").loc["fig3_secondary_endpoints"]
    assert fig3.assessed == 0 and np.isnan(fig3.share_held)  # chapter 07 did not run: not assessed anywhere
    c = summary.headlines.set_index("number").loc["c_test_Model_clinic+dl"]
    assert c.n == 6 and c.paper == pytest.approx(0.788) and 0.74 < c["mean"] < 0.87
    spread = summary.spread.set_index("number").loc["c_test_Model_clinic+dl"]
    assert spread.twins == 3 and spread.share_twin_to_twin > 0.8  # the twin moves it by 0.05, the split by 0.01
    assert summary.spread.set_index("number").loc["hr_test", "sd_twin_to_twin"] == 0.0
    values, paper_values = headline_values(reps, "hazard ratio")
    assert list(values["HR high vs low risk, test"]) == [2.0] * 6
    assert paper_values["HR high vs low risk, test"][0] == 6.9
    with pytest.raises(ValueError, match="unknown 'nope'"):
        headline_values(reps, "nope")


# -- a study on a 2-worker LocalCluster ---------------------------------------------------------
@pytest.fixture(scope="module")
def smoke_study(tmp_path_factory):
    """Twin 0 split 2020 and 2021, twin 7 split 2020 (chapters up to 01_cohort), 2 workers.

    Twin 7 is simulated on a worker (its stamp removed first: a Dask worker is a daemonic
    process, the simulator's process pool runs in a child interpreter); its replicate
    fails (a corrupt run.json).
    """
    from npc_lib.run.cohort_source import default_cohort_dir

    out = tmp_path_factory.mktemp("study")
    study = Study("smoke", (Replicate(0, 2020), Replicate(0, 2021), Replicate(7, 2020)), chapters=tuple(CHAPTERS))
    twin7 = default_cohort_dir(study.config(Replicate(7, 2020)).cohort)
    twin7.with_name(twin7.name + ".stamp.json").unlink(missing_ok=True)
    (out / "twin7_split2020").mkdir()
    (out / "twin7_split2020" / "run.json").write_text("{not json")
    table = run_study(study, out, workers=2, progress=False, poll_seconds=2)
    return study, out, table


def test_study_records_ok_and_failed_replicates(smoke_study):
    study, out, table = smoke_study
    assert table.set_index("replicate")["status"].to_dict() == {
        "twin0_split2020": "ok", "twin0_split2021": "ok", "twin7_split2020": "failed"}
    failed = table.set_index("replicate").loc["twin7_split2020"]
    assert "not JSON" in failed.error and (out / "twin7_split2020" / "error.txt").is_file()
    assert pd.read_csv(out / REPLICATES_FILE)["status"].tolist() == ["ok", "ok", "failed"]
    for name in ("twin0_split2020", "twin0_split2021"):
        record = json.loads((out / name / RECORD_FILE).read_text())
        assert record["tensorflow_in_worker"] is False
        assert record["cpu_seconds"] > 0.5  # its kernels' CPU time, counted by the worker
        run = Run.open(out / name)
        assert run.config == study.config(Replicate(0, int(name[-4:])))
        assert replicate_done(study, out, Replicate(0, int(name[-4:])))
    splits = [pd.read_csv(out / n / "split.csv") for n in ("twin0_split2020", "twin0_split2021")]
    assert not splits[0].equals(splits[1])  # each replicate its own split


def test_replicate_counts_done_only_when_every_chapter_finished(smoke_study, tmp_path):
    study, out, _ = smoke_study
    shutil.copytree(out / "twin0_split2020", tmp_path / "twin0_split2020")
    rep = Replicate(0, 2020)
    assert replicate_done(study, tmp_path, rep)
    record = tmp_path / "twin0_split2020" / RECORD_FILE
    before = (record.read_bytes(), record.stat().st_mtime_ns)
    # a finished task that Dask runs again (its worker lost before the result was read) changes nothing
    assert run_replicate(study, tmp_path, 0, 2020) == json.loads(before[0])
    assert (record.read_bytes(), record.stat().st_mtime_ns) == before
    (tmp_path / "twin0_split2020" / "01_cohort" / ".stamp").unlink()  # killed in the middle of 01_cohort
    assert not replicate_done(study, tmp_path, rep)
    shutil.copy(out / "twin0_split2020" / "01_cohort" / ".stamp", tmp_path / "twin0_split2020" / "01_cohort")
    (tmp_path / "twin0_split2020" / RECORD_FILE).unlink()  # chapters done, record never written
    assert not replicate_done(study, tmp_path, rep)


def test_study_resumes_without_recomputing_finished_replicates(smoke_study, capfd):
    """Resumed on an existing cluster (its scheduler's address), as `npc replicate --scheduler` does."""
    from distributed import LocalCluster

    study, out, _ = smoke_study
    kept = out / "twin0_split2020" / "notebooks" / "01_cohort.ipynb"
    before = kept.stat().st_mtime_ns
    shutil.rmtree(out / "twin0_split2021")
    (out / "twin7_split2020" / "run.json").unlink()  # the fault repaired
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster:
        table = run_study(study, out, scheduler=cluster.scheduler_address, poll_seconds=2)
    assert table["status"].tolist() == ["ok", "ok", "ok"]
    assert kept.stat().st_mtime_ns == before
    assert not (out / "twin7_split2020" / "error.txt").exists()
    assert Run.open(out / "twin7_split2020").config.cohort.seed == 7
    assert "replicates: 3/3 done, 0 running, 0 failed, 0 queued" in capfd.readouterr().err


def test_cli_replicate_resumes_and_refuses_other_settings(smoke_study, capsys, tmp_path):
    """A replicate killed in the middle of 01_cohort (no record, no stamp) executes that chapter again, only it."""
    _, out, _ = smoke_study
    args = ["-q", "replicate", "--profile", "smoke", "--twins", "0", "--split-seeds", "2020", "--out", str(out)]
    assert main([*args, "--chapters", *CHAPTERS]) == 0  # nothing left to do: no cluster started
    assert "1 of 1 replicates ok" in capsys.readouterr().out
    killed = out / "twin0_split2021"
    (killed / RECORD_FILE).unlink()
    (killed / "01_cohort" / ".stamp").unlink()
    notebooks = {c: killed / "notebooks" / f"{c}.ipynb" for c in ("00_intro", "01_cohort")}
    before = {c: nb.stat().st_mtime_ns for c, nb in notebooks.items()}
    study_file = tmp_path / "study.yml"
    study_file.write_text("profile: smoke\ntwins: 0\nsplit_seeds: [2020, 2021]\nchapters: [01_cohort]\n")
    assert main(["-q", "replicate", str(study_file), "--out", str(out)]) == 0
    assert "2 of 2 replicates ok" in capsys.readouterr().out
    assert notebooks["00_intro"].stat().st_mtime_ns == before["00_intro"]  # finished chapter kept
    assert notebooks["01_cohort"].stat().st_mtime_ns != before["01_cohort"]  # interrupted chapter executed again
    assert (killed / "01_cohort" / ".stamp").is_file() and (killed / RECORD_FILE).is_file()
    assert main([*args, "--chapters", "02_table1"]) == 2
    assert "other settings (chapters)" in capsys.readouterr().err


def test_replication_chapter_renders_the_study(smoke_study):
    _, out, _ = smoke_study
    run_dir = out / "twin0_split2020"
    nb = execute_replication_chapter(run_dir, out)
    metrics = json.loads((run_dir / "11_replication" / "metrics.json").read_text())
    assert (metrics["n_ok"], metrics["n_failed"]) == (3, 0)
    reps, _ = collect_study(out)
    shown = {r["number"]: r["n"] for r in metrics["headlines"]}
    assert shown["c_test_DL_T1_sig"] == 0  # chapter 05 did not run in this study: nothing invented
    assert "study " + out.name in nb.read_text() and len(reps) == 3


@pytest.mark.notebooks
def test_replicate_equals_npc_run_with_the_same_seeds(smoke_study, smoke_run):
    """Twin 0, split 2020 is the smoke profile's own run: same split, same chapter results."""
    _, out, _ = smoke_study
    rep = out / "twin0_split2020"
    assert pd.read_csv(rep / "split.csv").equals(pd.read_csv(smoke_run / "split.csv"))
    ours, theirs = (json.loads((d / "01_cohort" / "metrics.json").read_text()) for d in (rep, smoke_run))
    ours.pop("split_file"), theirs.pop("split_file")
    assert ours == theirs
    no_study = json.loads((smoke_run / "11_replication" / "metrics.json").read_text())
    assert no_study["study_dir"] is None and no_study["claims"] == []


def test_replicate_retries_a_kernel_that_failed_to_start(tmp_path, monkeypatch):
    """A kernel start race (papermill #511) is retried; a chapter that fails is recorded, not retried."""
    import npc_lib.runners.replicate as replicate

    calls = []

    def flaky(config, *, out, only, progress):
        calls.append(config.split.seed)
        if len(calls) == 1:
            raise RuntimeError("Kernel died before replying to kernel_info")
        if config.split.seed == 2:
            raise ValueError("a cell failed")
        return out

    monkeypatch.setattr(replicate, "_ensure_twin", lambda config: None)
    monkeypatch.setattr(replicate, "run_chapters", flaky)
    monkeypatch.setattr(replicate.time, "sleep", lambda s: None)
    study = study_from_seeds("smoke", "0", split_seeds="1-2", chapters=CHAPTERS)
    ok = replicate.run_replicate(study, tmp_path, 0, 1)
    assert ok["status"] == "ok" and calls == [1, 1]
    failed = replicate.run_replicate(study.to_dict(), tmp_path, 0, 2)
    assert failed["status"] == "failed" and failed["error"] == "ValueError: a cell failed" and calls[2:] == [2]
    assert json.loads((tmp_path / "twin0_split2" / RECORD_FILE).read_text())["status"] == "failed"
