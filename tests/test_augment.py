"""Tests of npc_lib.imaging.augment (seeded batch augmentation)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from npc_lib.imaging.augment import augment_batch, flip_lr


def _batch(n=6, h=16, w=12, c=None, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (n, h, w) if c is None else (n, h, w, c)
    return rng.normal(size=shape).astype(np.float32)


def _naive(x, rng, flip, max_rot, max_shift, jit):
    """Per-image loop with scipy.ndimage.affine_transform, same draws as augment_batch."""
    n, h, w = x.shape
    flips = rng.random(n) < 0.5
    angles = np.deg2rad(rng.uniform(-max_rot, max_rot, n))
    shifts = rng.uniform(-max_shift, max_shift, (n, 2))
    gains = 1.0 + rng.uniform(-jit, jit, n)
    offsets = rng.uniform(-jit, jit, n)
    centre = np.array([(h - 1) / 2, (w - 1) / 2])
    out = np.empty_like(x)
    for i in range(n):
        img = x[i, ::-1] if (flip and flips[i]) else x[i]
        c, s = np.cos(angles[i]), np.sin(angles[i])
        rot = np.array([[c, s], [-s, c]])  # input = rot @ (p - centre - shift) + centre
        offset = centre - rot @ (centre + shifts[i])
        warped = ndimage.affine_transform(img, rot, offset=offset, order=1, mode="nearest")
        out[i] = warped * np.float32(gains[i]) + np.float32(offsets[i])
    return out


def test_augment_batch_deterministic_for_seed_and_shapes():
    x = _batch()
    a = augment_batch(x, np.random.default_rng(3))
    b = augment_batch(x, np.random.default_rng(3))
    c = augment_batch(x, np.random.default_rng(4))
    assert a.shape == x.shape and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    x4 = _batch(c=2)
    out4 = augment_batch(x4, np.random.default_rng(3))
    assert out4.shape == x4.shape
    # channels share the transform: channel 1 equals augmenting that channel alone with the same draws
    alone = augment_batch(x4[..., 1], np.random.default_rng(3))
    np.testing.assert_allclose(out4[..., 1], alone, atol=1e-5)


def test_augment_batch_identity_with_all_options_off():
    x = _batch()
    out = augment_batch(x, np.random.default_rng(0), flip=False, max_rotation_deg=0, max_shift_px=0, intensity_jitter=0)
    np.testing.assert_array_equal(out, x)
    assert out is not x


def test_flip_lr_is_involution_and_flip_only_gives_x_or_its_mirror():
    x = _batch(n=40)
    np.testing.assert_array_equal(flip_lr(flip_lr(x)), x)
    out = augment_batch(x, np.random.default_rng(1), max_rotation_deg=0, max_shift_px=0, intensity_jitter=0)
    same = np.all(out == x, axis=(1, 2))
    mirrored = np.all(out == flip_lr(x), axis=(1, 2))
    assert np.all(same | mirrored) and same.any() and mirrored.any()


def test_augment_batch_matches_naive_per_image_loop():
    x = _batch(n=8, h=20, w=20)
    fast = augment_batch(x, np.random.default_rng(11), max_rotation_deg=15, max_shift_px=3, intensity_jitter=0.2)
    slow = _naive(x, np.random.default_rng(11), True, 15, 3, 0.2)
    np.testing.assert_allclose(fast, slow, atol=1e-4)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), level=st.floats(-5, 5))
def test_augment_batch_geometry_keeps_constant_images(seed, level):
    x = np.full((3, 10, 10), level, np.float32)
    out = augment_batch(x, np.random.default_rng(seed), intensity_jitter=0)
    np.testing.assert_allclose(out, level, atol=1e-5)


def test_augment_batch_intensity_jitter_is_affine_per_image():
    x = _batch(n=5)
    out = augment_batch(x, np.random.default_rng(2), flip=False, max_rotation_deg=0, max_shift_px=0, intensity_jitter=0.1)
    for xi, oi in zip(x, out):
        gain, offset = np.polyfit(xi.ravel(), oi.ravel(), 1)
        assert 0.9 <= gain <= 1.1 and -0.1 <= offset <= 0.1
        np.testing.assert_allclose(oi, gain * xi + offset, atol=1e-5)


def test_augment_batch_is_fast():
    x = _batch(n=1000, h=64, w=64)
    augment_batch(x[:10], np.random.default_rng(0))
    t0 = time.perf_counter()
    augment_batch(x, np.random.default_rng(0))
    elapsed = time.perf_counter() - t0
    assert elapsed < 5.0, f"1000 64x64 images took {elapsed:.2f} s"  # ~0.25 s of CPU; lenient on a shared machine


def test_augment_batch_bad_input_raises():
    with pytest.raises(ValueError, match="x must have shape"):
        augment_batch(np.zeros((4, 4)), np.random.default_rng(0))
    with pytest.raises(ValueError, match="rng must be"):
        augment_batch(_batch(), 0)
    with pytest.raises(ValueError, match="max_rotation_deg"):
        augment_batch(_batch(), np.random.default_rng(0), max_rotation_deg=-1)
    with pytest.raises(ValueError, match="intensity_jitter"):
        augment_batch(_batch(), np.random.default_rng(0), intensity_jitter=float("nan"))
    bad = _batch()
    bad[0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        augment_batch(bad, np.random.default_rng(0))
    with pytest.raises(ValueError, match="x must have shape"):
        flip_lr(np.zeros(3))
