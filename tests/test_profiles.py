import pytest

from npc_lib.profiles import PROFILES, load_profile


@pytest.mark.parametrize("name", PROFILES)
def test_load_profile_each_shipped(name):
    p = load_profile(name)
    assert p["profile"] == name
    assert p["n_patients"] > 0
    assert 0 < p["train_fraction"] < 1
    assert isinstance(p["train"], dict)


def test_load_profile_sizes_ordered():
    assert load_profile("smoke")["n_patients"] < load_profile("default")["n_patients"]
    assert load_profile("default")["n_patients"] == 638


def test_load_profile_unknown_name():
    with pytest.raises(ValueError, match="unknown profile 'nope'"):
        load_profile("nope")


def test_load_profile_missing_field(tmp_path):
    f = tmp_path / "bad.yml"
    f.write_text("profile: bad\nn_patients: 5\n")
    with pytest.raises(ValueError, match="lacks the field 'cohort_seed'"):
        load_profile(f)


def test_load_profile_not_a_mapping(tmp_path):
    f = tmp_path / "bad.yml"
    f.write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="must hold a mapping"):
        load_profile(f)


def test_load_profile_from_path(tmp_path):
    f = tmp_path / "mine.yml"
    f.write_text("profile: mine\nn_patients: 10\ncohort_seed: 1\nsplit_seed: 2\ntrain_fraction: 0.5\n")
    assert load_profile(f)["train"] == {}
