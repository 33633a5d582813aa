"""Tests of npc_lib.imaging.instances (cohort -> MIL bags of standardised boxes)."""

from __future__ import annotations

import numpy as np
import pytest

from npc_lib.cohort.load import load_cohort
from npc_lib.imaging.boxes import tumour_slices
from npc_lib.imaging.instances import InstanceSet, build_instances, fit_standardizer, net_scaling, patient_boxes
from npc_lib.imaging.standardize import HistogramStandardizer


@pytest.fixture
def cohort(tiny_cohort):
    return load_cohort(tiny_cohort)


@pytest.fixture
def fitted(cohort):
    return fit_standardizer(cohort, "T2", cohort.patient_ids[:5])


def test_fit_standardizer_uses_training_patients_only(cohort, fitted):
    train = cohort.patient_ids[:5]
    manual = HistogramStandardizer().fit([cohort.read_image(p, "T2") for p in train])
    np.testing.assert_allclose(fitted.standard_landmarks_, manual.standard_landmarks_)
    assert fitted.n_fitted_ == 5
    everyone = fit_standardizer(cohort, "T2", cohort.patient_ids)
    assert not np.allclose(everyone.standard_landmarks_, fitted.standard_landmarks_)


def test_build_instances_shapes_bags_and_slices(cohort, fitted):
    ids = cohort.patient_ids
    inst = build_instances(cohort, "T2", ids, fitted, box_mm=16, box_px=16)
    expected = [tumour_slices(cohort.read_roi(p, "T2")) for p in ids]
    assert len(inst) == sum(z.size for z in expected)
    assert inst.x.shape == (len(inst), 16, 16, 1) and inst.x.dtype == np.float32
    assert inst.patient_ids == ids and inst.n_patients == len(ids)
    for i, (bag, z) in enumerate(zip(inst.bags(), expected)):
        assert np.all(inst.bag[bag] == i)
        np.testing.assert_array_equal(inst.slice_index[bag], z)
    assert inst.sequence == "T2" and inst.meta["box_px"] == [16, 16]


def test_build_instances_equals_net_scaled_patient_boxes(cohort, fitted):
    pid = cohort.patient_ids[2]
    inst = build_instances(cohort, "T2", [pid], fitted, box_mm=12, box_px=12)
    boxes, z = patient_boxes(cohort.read_image(pid, "T2"), cohort.read_roi(pid, "T2"), fitted, box_mm=12, box_px=12)
    loc, scale = net_scaling(fitted)
    np.testing.assert_allclose(inst.x[..., 0] * scale + loc, boxes, atol=1e-3)
    np.testing.assert_array_equal(inst.slice_index, z)
    # foreground (tumour + tissue) of the net input is roughly standardised
    assert abs(float(np.median(inst.x))) < 2.0 and 0.2 < float(inst.x.std()) < 5.0


def test_build_instances_downsamples_when_box_px_is_smaller(cohort, fitted):
    fine = build_instances(cohort, "T2", cohort.patient_ids[:3], fitted, target_spacing=0.5, box_mm=16, box_px=8)
    assert fine.x.shape[1:] == (8, 8, 1)
    with pytest.raises(ValueError, match="box_px .* exceeds"):
        build_instances(cohort, "T2", cohort.patient_ids[:1], fitted, box_mm=16, box_px=32)


def test_build_instances_threads_and_progress_give_same_result(cohort, fitted):
    a = build_instances(cohort, "T2", cohort.patient_ids, fitted, box_mm=16, box_px=16)
    b = build_instances(cohort, "T2", cohort.patient_ids, fitted, box_mm=16, box_px=16, n_jobs=2, progress=True)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.bag, b.bag)
    with pytest.raises(ValueError, match="n_jobs"):
        build_instances(cohort, "T2", cohort.patient_ids, fitted, n_jobs=0)


def test_instance_set_subset_and_bags(cohort, fitted):
    inst = build_instances(cohort, "T2", cohort.patient_ids, fitted, box_mm=16, box_px=16)
    pick = [cohort.patient_ids[4], cohort.patient_ids[1]]
    sub = inst.subset(pick)
    assert sub.patient_ids == pick
    for new_i, pid in enumerate(pick):
        old = inst.bags()[inst.patient_ids.index(pid)]
        np.testing.assert_array_equal(sub.x[sub.bags()[new_i]], inst.x[old])
        np.testing.assert_array_equal(sub.slice_index[sub.bags()[new_i]], inst.slice_index[old])
    with pytest.raises(ValueError, match="not in this InstanceSet"):
        inst.subset(["NOPE"])


def test_instance_set_save_load_round_trip(tmp_path, cohort, fitted):
    inst = build_instances(cohort, "T2", cohort.patient_ids[:4], fitted, box_mm=16, box_px=16)
    path = inst.save(tmp_path / "out" / "T2.npz")
    assert [p.name for p in path.parent.iterdir()] == ["T2.npz"]
    back = InstanceSet.load(path)
    np.testing.assert_array_equal(back.x, inst.x)
    np.testing.assert_array_equal(back.bag, inst.bag)
    np.testing.assert_array_equal(back.slice_index, inst.slice_index)
    assert back.patient_ids == inst.patient_ids and back.sequence == "T2" and back.meta == inst.meta
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="not an InstanceSet"):
        InstanceSet.load(tmp_path / "other.npz")


def test_instance_set_validation():
    x = np.zeros((3, 4, 4, 1), np.float32)
    with pytest.raises(ValueError, match="without instances"):
        InstanceSet(x, np.array([0, 0, 0]), ["a", "b"], np.arange(3), "T1")
    with pytest.raises(ValueError, match=r"x must have shape \(N, H, W, 1\)"):
        InstanceSet(x[..., 0], np.array([0, 0, 0]), ["a"], np.arange(3), "T1")
    with pytest.raises(ValueError, match="out of range"):
        InstanceSet(x, np.array([0, 1, 2]), ["a", "b"], np.arange(3), "T1")


def test_build_instances_bad_input_raises(cohort, fitted):
    with pytest.raises(ValueError, match="not in the cohort"):
        build_instances(cohort, "T2", ["NPC9999"], fitted)
    with pytest.raises(ValueError, match="duplicates"):
        build_instances(cohort, "T2", [cohort.patient_ids[0]] * 2, fitted)
    with pytest.raises(ValueError, match="train_ids is empty"):
        fit_standardizer(cohort, "T2", [])
    with pytest.raises(RuntimeError, match="not fitted"):
        build_instances(cohort, "T2", cohort.patient_ids[:1], HistogramStandardizer())
    with pytest.raises(ValueError, match=f"patient {cohort.patient_ids[0]}, sequence T2: roi has no slice with >= 1000000"):
        build_instances(cohort, "T2", cohort.patient_ids[:1], fitted, box_mm=16, box_px=16, min_area=10**6)
