"""Tests of npc_lib.model.mil (A6): pooling, bag membership, batch sampling."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

keras = pytest.importorskip("keras")
from keras import ops  # noqa: E402

from npc_lib.model.mil import (BagSampler, bag_members, pool_instances, pool_instances_numpy,  # noqa: E402
                               sample_instances)


def _np(t) -> np.ndarray:
    return t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)


def _bags(rng, n_bags=5, max_size=6):
    sizes = rng.integers(1, max_size + 1, n_bags)
    seg = rng.permutation(np.repeat(np.arange(n_bags), sizes))
    return rng.normal(0, 2, seg.size).astype("float32"), seg


@pytest.mark.parametrize("method", ["lme", "mean", "max"])
@pytest.mark.parametrize("temperature", [0.5, 1.0, 3.0])
def test_pool_instances_matches_naive(method, temperature):
    s, seg = _bags(np.random.default_rng(0))
    got = _np(pool_instances(s, seg, 5, method=method, temperature=temperature))
    want = pool_instances_numpy(s, seg, 5, method=method, temperature=temperature)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_pool_instances_lme_between_mean_and_max_and_limits():
    s, seg = _bags(np.random.default_rng(1))
    mean = pool_instances_numpy(s, seg, 5, method="mean")
    top = pool_instances_numpy(s, seg, 5, method="max")
    lme = pool_instances_numpy(s, seg, 5, method="lme", temperature=1.0)
    assert np.all(mean <= lme + 1e-12) and np.all(lme <= top + 1e-12)
    np.testing.assert_allclose(pool_instances_numpy(s, seg, 5, method="lme", temperature=1e-3), top, atol=1e-2)
    np.testing.assert_allclose(pool_instances_numpy(s, seg, 5, method="lme", temperature=1e4), mean, atol=1e-3)


@pytest.mark.parametrize("method", ["lme", "mean", "max"])
def test_pool_instances_zero_weight_instances_are_left_out(method):
    s, seg = _bags(np.random.default_rng(2))
    w = np.ones_like(s)
    # pad every bag with a huge-risk instance of weight 0
    s_pad = np.concatenate([s, np.full(5, 50.0, "float32")])
    seg_pad = np.concatenate([seg, np.arange(5)])
    w_pad = np.concatenate([w, np.zeros(5, "float32")])
    got = _np(pool_instances(s_pad, seg_pad, 5, method=method, weights=w_pad))
    np.testing.assert_allclose(got, pool_instances_numpy(s, seg, 5, method=method), rtol=1e-5, atol=1e-5)


def test_pool_instances_lme_is_stable_for_large_risks():
    s = np.array([1000.0, 999.0, -1000.0], "float32")
    got = _np(pool_instances(s, [0, 0, 1], 2, method="lme"))
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, [1000 + np.log((1 + np.exp(-1)) / 2), -1000], rtol=1e-6)


def _grad_of_sum(values, fn) -> np.ndarray:
    """d sum(fn(s)) / ds with the running backend's autodiff."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        s = tf.Variable(values)
        with tf.GradientTape() as tape:
            out = ops.sum(fn(s))
        return tape.gradient(out, s).numpy()
    if backend == "torch":
        import torch

        s = torch.tensor(values, requires_grad=True)
        ops.sum(fn(s)).backward()
        return s.grad.numpy()
    pytest.skip(f"no gradient helper for backend {backend}")


def test_pool_instances_lme_gradient_is_softmax_weights():
    seg = np.array([0, 0, 0, 1])
    g = _grad_of_sum([0.0, 1.0, 2.0, 5.0], lambda s: pool_instances(s, seg, 2, method="lme", temperature=2.0))
    w = np.exp(np.array([0.0, 1.0, 2.0]) / 2.0)
    np.testing.assert_allclose(g, np.r_[w / w.sum(), 1.0], rtol=1e-5)


def test_pool_instances_mean_gradient_ignores_padding():
    seg, w = np.array([0, 0, 0, 1]), np.array([1.0, 1.0, 0.0, 1.0], "float32")
    g = _grad_of_sum([0.0, 1.0, 9.0, 5.0], lambda s: pool_instances(s, seg, 2, method="mean", weights=w))
    np.testing.assert_allclose(g, [0.5, 0.5, 0.0, 1.0], rtol=1e-6)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-5, 5), min_size=2, max_size=8), st.randoms(use_true_random=False),
       st.sampled_from(["lme", "mean", "max"]))
def test_pool_instances_invariant_to_instance_order(values, random, method):
    s = np.array(values, "float32")
    seg = np.array([i % 2 for i in range(s.size)])
    perm = np.array(random.sample(range(s.size), s.size))
    a = pool_instances_numpy(s, seg, 2, method=method)
    b = pool_instances_numpy(s[perm], seg[perm], 2, method=method)
    np.testing.assert_allclose(a, b, rtol=1e-10)
    # a shift of every risk shifts every bag's risk by the same amount
    np.testing.assert_allclose(pool_instances_numpy(s + 1.5, seg, 2, method=method), a + 1.5, rtol=1e-6)


def test_pool_instances_rejects_bad_method_and_temperature():
    with pytest.raises(ValueError, match="pooling method must be one of"):
        pool_instances([1.0], [0], 1, method="median")
    with pytest.raises(ValueError, match="temperature must be a positive"):
        pool_instances([1.0], [0], 1, temperature=0.0)
    with pytest.raises(ValueError, match="num_segments must be a positive integer"):
        pool_instances([1.0], [0], 0)


def test_pool_instances_numpy_rejects_empty_bag():
    with pytest.raises(ValueError, match="bag 1 has no instance"):
        pool_instances_numpy([1.0, 2.0], [0, 0], 2)


def test_bag_members_partitions_instances():
    bag = np.array([2, 0, 1, 0, 2, 2])
    members = bag_members(bag, 3)
    assert [m.tolist() for m in members] == [[1, 3], [2], [0, 4, 5]]
    with pytest.raises(ValueError, match="bag 3 has no instance"):
        bag_members(bag, 4)
    with pytest.raises(ValueError, match="bag indices must lie in 0..1"):
        bag_members(bag, 2)


def test_bag_sampler_balances_events_and_is_seeded():
    event = np.zeros(100, bool)
    event[:13] = True
    sampler = BagSampler(event, batch_size=30, min_events=4, seed=5)
    batches = sampler.batches(0)
    assert sampler.n_batches == 3 and all(len(b) == 30 for b in batches)
    counts = sorted(int(event[b].sum()) for b in batches)
    assert counts == [4, 4, 5]  # all 13 events kept, spread evenly
    flat = np.concatenate(batches)
    assert np.unique(flat).size == flat.size == 90
    assert all(np.array_equal(a, b) for a, b in zip(batches, BagSampler(event, 30, 4, seed=5).batches(0)))
    assert not all(np.array_equal(a, b) for a, b in zip(batches, sampler.batches(1)))


def test_bag_sampler_rejects_too_few_events():
    event = np.r_[np.ones(3, bool), np.zeros(37, bool)]
    with pytest.raises(ValueError, match="3 events cannot give 2 per batch in 4 batches"):
        BagSampler(event, batch_size=10, min_events=2)
    with pytest.raises(ValueError, match="batch_size \\(50\\) exceeds the number of patients \\(40\\)"):
        BagSampler(event, batch_size=50)


def test_sample_instances_fixed_slots_with_zero_weight_padding():
    bag = np.repeat(np.arange(3), [1, 4, 8])
    members = bag_members(bag, 3)
    idx, seg, w = sample_instances(members, np.array([2, 0, 1]), 5, np.random.default_rng(0))
    assert idx.shape == seg.shape == w.shape == (15,)
    assert seg.tolist() == [0] * 5 + [1] * 5 + [2] * 5
    assert np.all(bag[idx] == np.array([2, 0, 1])[seg])  # every slot holds its own patient's instance
    assert w.tolist() == [1] * 5 + [1, 0, 0, 0, 0] + [1, 1, 1, 1, 0]
    assert np.unique(idx[:5]).size == 5  # a large bag: drawn without replacement
    assert sorted(idx[10:14].tolist()) == members[1].tolist()  # a small bag: whole bag, then padding


def test_sample_instances_whole_bags_when_unbounded():
    bag = np.repeat(np.arange(3), [2, 3, 1])
    idx, seg, w = sample_instances(bag_members(bag, 3), [1, 2], None, np.random.default_rng(0))
    assert idx.tolist() == [2, 3, 4, 5] and seg.tolist() == [0, 0, 0, 1] and np.all(w == 1)
