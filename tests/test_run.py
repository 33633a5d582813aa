"""Tests of npc_lib.run.run: the Run folder and its artefacts."""

import pandas as pd
import pytest

from cohort_factory import make_tiny_cohort
from npc_lib.run import Run, resolve_profile
from npc_lib.run.run import CONFIG_FILE


@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory):
    return make_tiny_cohort(tmp_path_factory.mktemp("cohort") / "c", n=24, seed=4)


def test_run_create_open_round_trip(tmp_path, cohort_dir):
    cfg = resolve_profile("smoke", {"cohort_dir": str(cohort_dir)})
    run = Run.create(tmp_path / "r", cfg)
    assert (tmp_path / "r" / CONFIG_FILE).is_file()
    again = Run.open(tmp_path / "r")
    assert again.config == cfg and again.cohort_dir() == cohort_dir.resolve()


def test_run_split_made_once_from_config(tmp_path, cohort_dir):
    run = Run.create(tmp_path / "r", resolve_profile("smoke", {"cohort_dir": str(cohort_dir), "split_seed": 3}))
    s1 = run.split()
    assert (tmp_path / "r" / "split.csv").is_file()
    assert set(s1["patient_id"]) == set(run.cohort().patient_ids)
    assert Run.open(tmp_path / "r").split().equals(s1)
    other = Run.create(tmp_path / "q", resolve_profile("smoke", {"cohort_dir": str(cohort_dir), "split_seed": 4}))
    assert not other.split().equals(s1)
    assert run.patient_ids("train") == s1.loc[s1.cohort == "train", "patient_id"].tolist()
    with pytest.raises(ValueError, match="cohort must be 'train' or 'test'"):
        run.patient_ids("valid")


def test_run_for_chapter_new_and_existing(tmp_path, cohort_dir):
    run = Run.for_chapter(tmp_path / "r", profile="smoke", cohort_dir=str(cohort_dir), split_seed=11,
                          n_patients=None)
    assert run.config.split.seed == 11 and run.config.name == "smoke"
    same = Run.for_chapter(tmp_path / "r", profile="default", split_seed=None, cohort_dir="")
    assert same.config == run.config  # an existing run wins over the notebook's defaults
    assert Run.for_chapter(tmp_path / "r", split_seed=11).config == run.config
    with pytest.raises(ValueError, match="use an empty run_dir"):
        Run.for_chapter(tmp_path / "r", split_seed=12)
    with pytest.raises(ValueError, match="unknown override"):
        Run.for_chapter(tmp_path / "r", epochs=3)


def test_run_open_requires_config(tmp_path):
    with pytest.raises(ValueError, match="holds no run"):
        Run.open(tmp_path)


def test_run_create_new_config_redraws_split(tmp_path, cohort_dir):
    run = Run.create(tmp_path / "r", resolve_profile("smoke", {"cohort_dir": str(cohort_dir), "split_seed": 1}))
    run.split()
    Run.create(tmp_path / "r", resolve_profile("smoke", {"cohort_dir": str(cohort_dir), "split_seed": 2}))
    assert not (tmp_path / "r" / "split.csv").exists()


def test_run_signatures_and_model_frame(tmp_path, cohort_dir):
    run = Run.create(tmp_path / "r", resolve_profile("smoke", {"cohort_dir": str(cohort_dir)}))
    with pytest.raises(ValueError, match="no signatures yet"):
        run.signatures()
    split = run.split()
    folder = run.chapter_dir("04_signatures")
    for k, seq in enumerate(("T1", "T2", "T1C")):
        split.assign(risk=[0.1 * (i + k) for i in range(len(split))]).to_csv(folder / f"signature_{seq}.csv",
                                                                            index=False)
    frame = run.model_frame()
    assert {"DL_T1_sig", "DL_T2_sig", "DL_T1C_sig", "time", "event", "cohort"} <= set(frame.columns)
    assert len(frame) == len(split)
    assert run.truth() is None or isinstance(run.truth(), pd.DataFrame)


def test_run_chapter_readers_name_the_missing_chapter(tmp_path, cohort_dir):
    run = Run.create(tmp_path / "r", resolve_profile("smoke", {"cohort_dir": str(cohort_dir)}))
    with pytest.raises(ValueError, match="06_nomogram"):
        run.risk_groups()
    with pytest.raises(ValueError, match="06_nomogram"):
        run.nomogram()
    with pytest.raises(ValueError, match="chapter 05_models has not run"):
        run.metrics("05_models")
    with pytest.raises(ValueError, match="run chapter 05_models first"):
        run.models()
    run.chapter_dir("06_nomogram")
    pd.DataFrame({"patient_id": ["P1"], "cohort": ["train"], "points": [10.0]}).to_csv(run.risk_groups_path(),
                                                                                      index=False)
    with pytest.raises(ValueError, match=r"\['high_risk'\] missing"):
        run.risk_groups()


def test_run_risk_groups_written_checked_and_removed(tmp_path):
    run = Run.create(tmp_path / "run", resolve_profile("smoke"))
    groups = pd.DataFrame({"patient_id": ["p1", "p2"], "cohort": ["train", "test"], "points": [10.0, 90.0],
                           "high_risk": [0, 1], "extra": [1, 2]})
    run.write_risk_groups(groups)
    assert run.risk_groups().to_dict(orient="list") == {"patient_id": ["p1", "p2"], "cohort": ["train", "test"],
                                                       "points": [10.0, 90.0], "high_risk": [0, 1]}
    with pytest.raises(ValueError, match=r"high_risk must be 0 or 1, got \[2\]"):
        run.write_risk_groups(groups.assign(high_risk=[0, 2]))
    with pytest.raises(ValueError, match=r"column\(s\) \['points'\] missing"):
        run.write_risk_groups(groups.drop(columns="points"))
    run.write_risk_groups(None)  # no risk groups on this run: an earlier file must not be read as this run's
    run.write_nomogram(None)
    assert not run.risk_groups_path().exists() and not run.nomogram_path().exists()
    with pytest.raises(ValueError, match="no patient_risk_groups.csv yet"):
        run.risk_groups()


def test_run_chapter_from_notebook_parameters(tmp_path):
    params = {"run_dir": str(tmp_path / "run"), "profile": "smoke", "n_patients": None, "split_seed": 5,
              "t_short": 36.0}
    run, out = Run.chapter("05_models", params)
    assert out == run.dir / "05_models" and out.is_dir() and run.config.split.seed == 5
    with pytest.raises(ValueError, match="chapter '99_none' is not in the book"):
        Run.chapter("99_none", params)
    with pytest.raises(ValueError, match="parameters lack run_dir"):
        Run.chapter("05_models", {"profile": "smoke"})
