"""Tests of npc_lib.run.config: profiles resolved once into a typed RunConfig."""

import json

import pytest

from npc_lib.profiles import shipped_profiles
from npc_lib.run.config import RunConfig, chapter_knobs, resolve_profile


@pytest.mark.parametrize("name", ["smoke", "default", "paper"])
def test_resolve_profile_each_shipped(name):
    cfg = resolve_profile(name)
    assert cfg.name == name and cfg.train_preset == name
    assert cfg.cohort.n_patients > 0 and 0 < cfg.split.train_fraction < 1
    assert RunConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert name in shipped_profiles()


def test_resolve_profile_sizes_ordered():
    assert resolve_profile("smoke").cohort.n_patients < resolve_profile("default").cohort.n_patients == 638


def test_resolve_profile_custom_name_and_training(tmp_path):
    f = tmp_path / "mine.yml"
    f.write_text("profile: mine\ntrain_preset: smoke\nn_patients: 40\ncohort_seed: 3\nsplit_seed: 9\n"
                 "train_fraction: 0.6\ntrain:\n  epochs_cox: 1\n  lr_cox: 0.01\n  network: {stem_filters: 4}\n"
                 "chapters:\n  04_signatures: {crossval_sequences: ''}\n")
    cfg = resolve_profile(f)
    assert cfg.name == "mine" and cfg.train_preset == "smoke"
    assert (cfg.cohort.n_patients, cfg.cohort.seed, cfg.split.seed, cfg.split.train_fraction) == (40, 3, 9, 0.6)
    assert cfg.train.epochs_cox == 1 and cfg.train.lr_cox == 0.01 and cfg.train.network.stem_filters == 4
    assert cfg.chapter_parameters("04_signatures") == {"crossval_sequences": ""}


def test_resolve_profile_unknown_name_defaults_to_default_preset(tmp_path):
    f = tmp_path / "other.yml"
    f.write_text("profile: other\n")
    cfg = resolve_profile(f)
    assert cfg.train_preset == "default" and cfg.cohort.n_patients == 638


def test_resolve_profile_overrides_and_relative_cohort(tmp_path):
    f = tmp_path / "p.yml"
    f.write_text("profile: p\ncohort_dir: data/mine\n")
    cfg = resolve_profile(f, {"split_seed": 5, "n_patients": None})
    assert cfg.split.seed == 5 and cfg.cohort.dir == str((tmp_path / "data" / "mine").resolve())


@pytest.mark.parametrize("text, match", [
    ("profile: x\nn_patinets: 5\n", r"unknown key\(s\) \['n_patinets'\]"),
    ("profile: x\nn_patients: five\n", "n_patients must be int"),
    ("profile: x\ntrain_fraction: 1.5\n", "train_fraction must lie strictly between 0 and 1"),
    ("profile: x\nsplit_seed: true\n", "split_seed must be int"),
    ("n_patients: 5\n", "the key 'profile' is required"),
    ("profile: x\ntrain: {epochs_cx: 2}\n", r"train: unknown TrainConfig field\(s\): \['epochs_cx'\]"),
    ("profile: x\ntrain_preset: huge\n", "train_preset must be one of"),
    ("profile: x\nchapters: {04_signatures: {cv_fold: 2}}\n", "chapters.04_signatures.cv_fold: unknown parameter"),
    ("profile: x\nchapters: {04_signatures: {cv_folds: two}}\n", "chapters.04_signatures.cv_folds must be int"),
    ("profile: x\nchapters: {99_nothing: {a: 1}}\n", "unknown chapter '99_nothing'"),
    ("profile: x\nchapters: {02_table1: {run_dir: a}}\n", "set by the run"),
    ("- 1\n", "must hold a mapping"),
    ("profile: [\n", "not valid YAML"),
])
def test_resolve_profile_bad_input_names_the_key(tmp_path, text, match):
    f = tmp_path / "bad.yml"
    f.write_text(text)
    with pytest.raises(ValueError, match=match):
        resolve_profile(f)


def test_resolve_profile_unknown_shipped_name():
    with pytest.raises(ValueError, match="unknown profile 'nope'"):
        resolve_profile("nope")


def test_run_config_write_read_strict_json(tmp_path):
    cfg = resolve_profile("smoke")
    path = cfg.write(tmp_path / "run.json")
    assert "NaN" not in path.read_text()
    assert RunConfig.read(path) == cfg
    with pytest.raises(ValueError, match="not found"):
        RunConfig.read(tmp_path / "none.json")


def test_chapter_knobs_reads_parameters_cell():
    knobs = chapter_knobs("04_signatures")
    assert knobs["run_dir"] and knobs["profile"] == "smoke" and isinstance(knobs["cv_folds"], int)
