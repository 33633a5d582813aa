"""Tests of npc_lib.cohort.split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npc_lib.cohort.split import (
    PAPER_TRAIN_FRACTION,
    n_train_for,
    read_split,
    split_cohort,
    write_split,
)

IDS = [f"NPC{i:04d}" for i in range(1, 639)]


def test_split_cohort_paper_sizes():
    s = split_cohort(IDS)
    assert len(s) == 638
    assert (s["cohort"] == "train").sum() == 447
    assert (s["cohort"] == "test").sum() == 191


@pytest.mark.parametrize("n,fraction,expected", [(638, PAPER_TRAIN_FRACTION, 447), (10, 0.7, 7),
                                                 (8, 0.5, 4), (7, 0.5, 4), (3, 0.5, 2)])
def test_n_train_for_rounding(n, fraction, expected):
    assert n_train_for(n, fraction) == expected


def test_split_cohort_deterministic_and_seed_dependent():
    a = split_cohort(IDS, seed=7)
    pd.testing.assert_frame_equal(a, split_cohort(IDS, seed=7))
    assert not a["cohort"].equals(split_cohort(IDS, seed=8)["cohort"])


def test_split_cohort_disjoint_and_complete():
    s = split_cohort(IDS, seed=3)
    train = set(s.loc[s["cohort"] == "train", "patient_id"])
    test = set(s.loc[s["cohort"] == "test", "patient_id"])
    assert not train & test
    assert train | test == set(IDS)
    assert s["patient_id"].tolist() == sorted(IDS)


def test_split_cohort_is_random_not_blocked():
    # training patients are spread over the id range, not the first 447
    s = split_cohort(IDS)
    pos = np.flatnonzero(s["cohort"].to_numpy() == "test")
    assert pos.min() < 100 and pos.max() > 538


@settings(max_examples=40, deadline=None)
@given(ids=st.sets(st.text(alphabet="ABCXYZ0123456789", min_size=1, max_size=6), min_size=2, max_size=60),
       seed=st.integers(0, 2**32 - 1), data=st.data())
def test_split_cohort_order_invariant(ids, seed, data):
    ids = sorted(ids)
    shuffled = data.draw(st.permutations(ids))
    a = split_cohort(ids, seed=seed, train_fraction=0.6)
    b = split_cohort(shuffled, seed=seed, train_fraction=0.6)
    pd.testing.assert_frame_equal(a, b)
    assert (a["cohort"] == "train").sum() == n_train_for(len(ids), 0.6)


def test_split_cohort_bad_input():
    with pytest.raises(ValueError, match="patient_ids: duplicate patient_id 'A'"):
        split_cohort(["A", "B", "A"])
    with pytest.raises(ValueError, match="train_fraction must be strictly between 0 and 1"):
        split_cohort(IDS, train_fraction=1.0)
    with pytest.raises(ValueError, match="patient_ids: 1 patients .* both must be >= 1"):
        split_cohort(["A"])
    with pytest.raises(ValueError, match="not a single string"):
        split_cohort("ABC")


def test_write_read_split_roundtrip(tmp_path):
    s = split_cohort(IDS[:20], seed=1)
    path = write_split(s, tmp_path / "sub" / "split.csv")
    back = read_split(path, patient_ids=IDS[:20])
    pd.testing.assert_frame_equal(back, s)
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["split.csv"]


def test_write_split_rejects_bad_label(tmp_path):
    s = split_cohort(IDS[:10], seed=1)
    s.loc[3, "cohort"] = "validation"
    with pytest.raises(ValueError, match=r"patient NPC0004, field cohort: unknown cohort label 'validation'"):
        write_split(s, tmp_path / "split.csv")
    assert not (tmp_path / "split.csv").exists()


def test_read_split_errors(tmp_path):
    path = tmp_path / "split.csv"
    path.write_text("patient_id,cohort\nA,train\nB,TEST\n")
    with pytest.raises(ValueError, match=r"split\.csv: patient B, field cohort: unknown cohort label 'TEST'"):
        read_split(path)
    path.write_text("patient_id,cohort\nA,train\nB,test\nA,test\n")
    with pytest.raises(ValueError, match=r"split\.csv: patient A, field patient_id: duplicate patient_id"):
        read_split(path)
    path.write_text("patient_id,group\nA,train\n")
    with pytest.raises(ValueError, match=r"missing column\(s\) \['cohort'\]"):
        read_split(path)
    path.write_text("patient_id,cohort\nA,train\nB,\n")
    with pytest.raises(ValueError, match=r"field cohort: missing value in row 2"):
        read_split(path)
    path.write_text("patient_id,cohort\nA,train\nB,test\n")
    with pytest.raises(ValueError, match=r"patient C, field patient_id: patient missing from the split"):
        read_split(path, patient_ids=["A", "B", "C"])
    with pytest.raises(ValueError, match=r"patient B, field patient_id: patient not in the cohort"):
        read_split(path, patient_ids=["A"])
    with pytest.raises(FileNotFoundError, match="split file not found"):
        read_split(tmp_path / "nope.csv")
