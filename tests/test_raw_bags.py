"""Tests of npc_lib.imaging.instances.RawBags: preprocess once, standardise per training subset."""

from __future__ import annotations

import numpy as np
import pytest

from npc_lib.cohort.load import load_cohort
from npc_lib.imaging.instances import build_instances, fit_standardizer, raw_bags


@pytest.fixture
def cohort(tiny_cohort):
    return load_cohort(tiny_cohort)


@pytest.mark.parametrize("train", [slice(0, 5), slice(3, 8)])
def test_raw_bags_equal_fit_standardizer_and_build_instances(cohort, train):
    ids = cohort.patient_ids
    kw = dict(target_spacing=0.5, box_mm=16, box_px=8)
    raw = raw_bags(cohort, "T1C", ids, n_jobs=2, **kw)
    train_ids = ids[train]
    want_std = fit_standardizer(cohort, "T1C", train_ids)
    got_std = raw.fit_standardizer(train_ids)
    np.testing.assert_array_equal(got_std.standard_landmarks_, want_std.standard_landmarks_)
    assert got_std.to_dict() == want_std.to_dict()
    subset = ids[::-1][:6]  # any order, any subset
    want = build_instances(cohort, "T1C", subset, want_std, **kw)
    got = raw.instances(subset, got_std)
    np.testing.assert_array_equal(got.x, want.x)
    np.testing.assert_array_equal(got.bag, want.bag)
    np.testing.assert_array_equal(got.slice_index, want.slice_index)
    assert got.patient_ids == want.patient_ids and got.meta == want.meta and got.sequence == "T1C"


def test_raw_bags_reject_unknown_patients(cohort):
    raw = raw_bags(cohort, "T2", cohort.patient_ids[:4], box_mm=16, box_px=16)
    with pytest.raises(ValueError, match=r"train_ids: not in these bags: \['NPC0008'\]"):
        raw.fit_standardizer(["NPC0001", "NPC0008"])
    with pytest.raises(ValueError, match="ids must be distinct patients"):
        raw.instances(["NPC0001", "NPC0001"], raw.fit_standardizer(["NPC0001"]))
    with pytest.raises(ValueError, match="patient_ids: not in the cohort"):
        raw_bags(cohort, "T2", ["XYZ"], box_mm=16, box_px=16)
