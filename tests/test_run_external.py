"""The external cohort of a run (npc_lib.run.external): settings, folder, loading, signatures under both standardisers."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from npc_lib.run.external import (ExternalSettings, ensure_external_cohort, external_frame, external_signatures,
                                  external_twin_dir, load_external_cohort, profile_folder)


def test_settings_default_is_the_twin():
    s = ExternalSettings.from_parameters({"external_cohort_dir": "", "external_mapping": "", "external_roi_label": None})
    assert s.is_twin and s.n_patients == 400 and s.seed == 1
    assert external_twin_dir(s).name == "twin_external_n400_seed1"
    assert s.describe() == "second-centre twin, 400 patients, seed 1"


def test_settings_relative_folder_from_profile(tmp_path):
    s = ExternalSettings.from_parameters({"external_cohort_dir": "centre_b", "external_mapping": "map.yml"},
                                         base=tmp_path)
    assert s.cohort_dir == str(tmp_path / "centre_b") and s.mapping == str(tmp_path / "map.yml")
    assert not s.is_twin and s.describe() == "cohort folder centre_b"


def test_settings_every_problem_named():
    with pytest.raises(ValueError, match=r"external_n_patients.*external_seed.*external_roi_label"):
        ExternalSettings(n_patients=3, seed=-1, roi_label="1")


def test_profile_folder_of_a_named_and_a_file_profile(tmp_path):
    from npc_lib.profiles import params_dir
    from npc_lib.run import resolve_profile

    assert profile_folder(resolve_profile("smoke")) == params_dir()
    f = tmp_path / "mine.yml"
    f.write_text("profile: mine\n")
    assert profile_folder(resolve_profile(str(f))) == tmp_path


def test_ensure_user_folder_errors(tmp_path):
    with pytest.raises(ValueError, match="is not a folder"):
        ensure_external_cohort(ExternalSettings(cohort_dir=str(tmp_path / "absent")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="has no clinical.csv"):
        ensure_external_cohort(ExternalSettings(cohort_dir=str(tmp_path / "empty")))


def test_load_and_frame_of_a_user_cohort(tiny_cohort):
    settings = ExternalSettings(cohort_dir=str(tiny_cohort))
    folder, _ = ensure_external_cohort(settings)
    cohort = load_external_cohort(settings, folder, sequences=["T1", "T2"])
    frame = external_frame(cohort)
    assert len(frame) == 8 and set(frame["cohort"]) == {"external"}
    assert frame["time"].notna().all() and frame["event"].sum() > 0


def test_load_refuses_a_cohort_without_event(tiny_cohort):
    path = Path(tiny_cohort) / "clinical.csv"
    c = pd.read_csv(path)
    for e in ("dfs", "os", "dmfs", "lrfs"):
        c[f"{e}_event"] = 0
    c.to_csv(path, index=False)
    settings = ExternalSettings(cohort_dir=str(tiny_cohort))
    with pytest.raises(ValueError, match="no DFS event"):
        load_external_cohort(settings, tiny_cohort, sequences=["T1"])


def test_load_refuses_a_cohort_without_a_needed_sequence(tiny_cohort):
    for p in (Path(tiny_cohort) / "images").glob("*/T1C*"):
        p.unlink()
    settings = ExternalSettings(cohort_dir=str(tiny_cohort))
    with pytest.raises(ValueError, match="no T1C images"):
        load_external_cohort(settings, tiny_cohort, sequences=["T1", "T1C"])


def test_external_signatures_locked_reproduce_the_run(smoke_run):
    """The development test patients scored as 'external' with the locked standardiser give the run's own signatures."""
    from npc_lib.run import Run

    run = Run.open(smoke_run)
    ids = run.patient_ids("test")[:4]
    sigs = external_signatures(run.dir / "04_signatures", run.cohort(), ["T1"], patient_ids=ids)
    theirs = run.signatures(["T1"]).set_index("patient_id").loc[ids]
    for col in ("DL_T1_sig",):
        np.testing.assert_allclose(sigs.locked[col], theirs[col], rtol=1e-4, atol=1e-4)
        assert not np.allclose(sigs.refitted[col], theirs[col], atol=1e-6)  # another standardiser, other numbers
    assert sigs.standardizers["T1"]["refitted"].n_fitted_ == len(ids)
    assert set(sigs.seconds) == {"read", "score"}
