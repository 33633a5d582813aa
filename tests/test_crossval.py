"""Tests of npc_lib.model.crossval (A8)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("keras")

from npc_lib.imaging.instances import InstanceSet  # noqa: E402
from npc_lib.model.crossval import cross_validate, stratified_folds  # noqa: E402
from npc_lib.model.training import TrainConfig  # noqa: E402


@settings(max_examples=40, deadline=None)
@given(st.integers(6, 60), st.integers(2, 5), st.integers(0, 2**16), st.floats(0.05, 0.95))
def test_stratified_folds_balance_sizes_and_events(n, k, seed, rate):
    event = (np.random.default_rng(seed).uniform(size=n) < rate).astype(int)
    folds = stratified_folds([f"P{i}" for i in range(n)], event, min(k, n), seed=seed)
    sizes = folds.groupby("fold").size().reindex(range(min(k, n)), fill_value=0)
    events = folds.assign(e=event).groupby("fold")["e"].sum().reindex(range(min(k, n)), fill_value=0)
    assert sizes.max() - sizes.min() <= 1
    assert events.max() - events.min() <= 1


def test_stratified_folds_seeded_and_in_input_order():
    ids = [f"P{i}" for i in range(30)]
    event = np.arange(30) % 4 == 0
    a = stratified_folds(ids, event, 3, seed=1)
    assert a["patient_id"].tolist() == ids
    assert a.equals(stratified_folds(ids, event, 3, seed=1))
    assert not a.equals(stratified_folds(ids, event, 3, seed=2))


def test_stratified_folds_rejects_bad_input():
    with pytest.raises(ValueError, match="n_folds must be an integer >= 2"):
        stratified_folds(["a", "b"], [0, 1], 1)
    with pytest.raises(ValueError, match=r"n_folds \(3\) exceeds the number of patients \(2\)"):
        stratified_folds(["a", "b"], [0, 1], 3)
    with pytest.raises(ValueError, match="patient_ids has duplicates"):
        stratified_folds(["a", "a"], [0, 1], 2)
    with pytest.raises(ValueError, match="event has 1 values for 2 patients"):
        stratified_folds(["a", "b"], [0], 2)


def _toy_instances(n=36, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    sizes = rng.integers(2, 5, n)
    bag = np.repeat(np.arange(n), sizes)
    x = rng.normal(0, 0.3, (bag.size, 32, 32, 1)).astype("float32")
    x[:, 12:20, 12:20, 0] += (1.5 + z[bag])[:, None, None]
    t_event = rng.exponential(40 * np.exp(-z))
    t_cens = rng.uniform(20, 90, n)
    ids = [f"P{i:02d}" for i in range(n)]
    inst = InstanceSet(x=x, bag=bag, patient_ids=ids, slice_index=np.zeros(bag.size, int), sequence="T2")
    return inst, np.minimum(t_event, t_cens), (t_event <= t_cens).astype(int)


def test_cross_validate_refits_preprocessing_on_each_fold(tmp_path):
    inst, time, event = _toy_instances()
    calls = []

    def make_instances(train_ids, ids):
        calls.append((list(train_ids), list(ids)))
        return inst.subset(ids)

    cfg = TrainConfig.for_preset("smoke", {"epochs_pretrain": 1, "epochs_cox": 1})
    table = cross_validate(make_instances, inst.patient_ids, time, event, cfg, n_folds=3, seed=0,
                           checkpoint_dir=tmp_path, progress=False)
    assert list(table["fold"]) == [0, 1, 2]
    assert table["n_test"].sum() == 36 and table["events_test"].sum() == event.sum()
    assert np.all((table["c_index"] >= 0) & (table["c_index"] <= 1))
    assert not np.any(table["c_lower"] > table["c_index"]) and not np.any(table["c_index"] > table["c_upper"])
    held_out = []
    for train_ids, ids in calls:
        test_ids = [p for p in ids if p not in train_ids]
        assert not set(train_ids) & set(test_ids) and set(ids) == set(inst.patient_ids)
        held_out += test_ids
    assert sorted(held_out) == sorted(inst.patient_ids)  # every patient held out exactly once
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fold0", "fold1", "fold2"]
