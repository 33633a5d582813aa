"""Tests of npc_lib.imaging.standardize (Nyul-type histogram standardisation)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npc_lib.cohort.volume import Volume
from npc_lib.imaging.standardize import DEFAULT_PERCENTILES, HistogramStandardizer, NotFittedError


def _phantom(seed: int = 0, shape=(24, 24, 6)) -> np.ndarray:
    """Head-like phantom: air (~0) around two tissues and a bright blob."""
    rng = np.random.default_rng(seed)
    g = np.indices(shape, dtype=float)
    c = (np.array(shape) - 1) / 2
    r = np.sqrt(((g[0] - c[0]) / (shape[0] * 0.4)) ** 2 + ((g[1] - c[1]) / (shape[1] * 0.4)) ** 2)
    img = np.where(r < 1, 400.0, 5.0) + np.where(r < 0.5, 250.0, 0.0)
    img += rng.gamma(3.0, 20.0, size=shape) * (r < 1) + rng.normal(0, 3, shape)
    return np.abs(img)


def _training_images(n: int = 5) -> list[np.ndarray]:
    """Images of one anatomy under different scanner gains/offsets (and noise)."""
    rng = np.random.default_rng(42)
    return [rng.uniform(0.3, 4.0) * _phantom(i) + rng.uniform(0, 200) for i in range(n)]


def _naive_map(v: np.ndarray, lm: np.ndarray, std: np.ndarray) -> np.ndarray:
    out = np.empty_like(v, dtype=float)
    for i, x in enumerate(v.ravel()):
        k = int(np.clip(np.searchsorted(lm, x) - 1, 0, lm.size - 2))
        out.flat[i] = std[k] + (x - lm[k]) * (std[k + 1] - std[k]) / (lm[k + 1] - lm[k])
    return out


@settings(max_examples=25, deadline=None)
@given(gain=st.floats(0.05, 50.0), offset=st.floats(-500.0, 500.0))
def test_transform_linear_intensity_scalings_identical(gain, offset):
    std = HistogramStandardizer().fit(_training_images())
    base = _phantom(7)
    a = std.transform(base)
    b = std.transform(gain * base + offset)
    np.testing.assert_allclose(a, b, atol=1e-2)


def test_transform_is_monotone():
    std = HistogramStandardizer().fit(_training_images())
    img = _phantom(3)
    out = std.transform(img)
    order = np.argsort(img, axis=None)
    assert np.all(np.diff(out.ravel()[order]) >= -1e-4)


def test_fit_transformed_training_landmarks_match_standard():
    train = _training_images(6)
    std = HistogramStandardizer().fit(train)
    s1, s2 = std.scale
    assert std.standard_landmarks_[0] == s1 and std.standard_landmarks_[-1] == s2
    assert np.all(np.diff(std.standard_landmarks_) > 0)
    for img in train:
        lm = std.image_landmarks(img)
        # the image's own landmarks, mapped, are the standard landmarks exactly
        np.testing.assert_allclose(std.map_intensities(lm, lm), std.standard_landmarks_, atol=1e-3)
        # and the landmarks recomputed on the transformed image are close to them
        lm_after = std.image_landmarks(std.transform(img))
        np.testing.assert_allclose(lm_after, std.standard_landmarks_, atol=0.03 * (s2 - s1))


def test_map_intensities_matches_naive_piecewise_linear():
    std = HistogramStandardizer().fit(_training_images())
    img = _phantom(9)
    lm = std.image_landmarks(img)
    sample = np.concatenate([img.ravel()[::37], [lm[0] - 50.0, lm[-1] + 80.0]])
    np.testing.assert_allclose(std.map_intensities(sample, lm), _naive_map(sample, lm, std.standard_landmarks_), atol=1e-3)


def test_image_landmarks_foreground_above_mean():
    img = np.concatenate([np.zeros(900), np.linspace(100.0, 200.0, 100)])
    std = HistogramStandardizer(percentiles=(0, 50, 100))
    np.testing.assert_allclose(std.image_landmarks(img), [100.0, 150.0, 200.0], rtol=1e-5)
    mask = np.zeros(1000, bool)
    mask[950:] = True
    np.testing.assert_allclose(std.image_landmarks(img, mask), np.percentile(img[950:], [0, 50, 100]), rtol=1e-5)
    all_fg = HistogramStandardizer(percentiles=(0, 50, 100), foreground="all").image_landmarks(img)
    assert all_fg[0] == 0.0


def test_image_landmarks_subsampling_close_to_exact():
    img = _phantom(0, shape=(64, 64, 20))
    exact = HistogramStandardizer(max_voxels=None).image_landmarks(img)
    sub = HistogramStandardizer(max_voxels=5000).image_landmarks(img)
    np.testing.assert_allclose(sub, exact, atol=0.02 * (exact[-1] - exact[0]))


def test_transform_volume_keeps_geometry():
    std = HistogramStandardizer().fit(_training_images())
    vol = Volume(_phantom(1).astype(np.float32), (0.5, 0.5, 4.0), np.diag([0.5, 0.5, 4.0, 1.0]))
    out = std.transform(vol)
    assert isinstance(out, Volume) and out.spacing == vol.spacing and out.data.dtype == np.float32
    np.testing.assert_array_equal(out.affine, vol.affine)


def test_fit_with_masks_uses_them():
    train = _training_images(3)
    masks = [img > np.median(img) for img in train]
    a = HistogramStandardizer().fit(train, masks)
    b = HistogramStandardizer().fit(train)
    assert not np.allclose(a.standard_landmarks_, b.standard_landmarks_)


def test_save_load_round_trip(tmp_path):
    std = HistogramStandardizer(percentiles=(2, 25, 50, 75, 98), scale=(-1.0, 1.0)).fit(_training_images())
    path = std.save(tmp_path / "sub" / "std_T1.json")
    assert json.loads(path.read_text())["kind"] == "HistogramStandardizer"
    assert [p.name for p in path.parent.iterdir()] == ["std_T1.json"]  # no temporary left
    back = HistogramStandardizer.load(path)
    assert back.percentiles == std.percentiles and back.scale == std.scale and back.n_fitted_ == 5
    img = _phantom(11)
    np.testing.assert_array_equal(back.transform(img), std.transform(img))
    assert HistogramStandardizer.from_dict(HistogramStandardizer().to_dict()).is_fitted is False


def test_transform_before_fit_raises():
    with pytest.raises(NotFittedError, match="not fitted"):
        HistogramStandardizer().transform(_phantom(0))


def test_standardizer_bad_input_raises(tmp_path):
    with pytest.raises(ValueError, match="percentiles"):
        HistogramStandardizer(percentiles=(10, 5, 50))
    with pytest.raises(ValueError, match="scale"):
        HistogramStandardizer(scale=(1, 1))
    with pytest.raises(ValueError, match="foreground"):
        HistogramStandardizer(foreground="otsu")
    with pytest.raises(ValueError, match="max_voxels"):
        HistogramStandardizer(max_voxels=3)
    std = HistogramStandardizer()
    with pytest.raises(ValueError, match="at least one"):
        std.fit([])
    with pytest.raises(ValueError, match="volume 1: .*constant"):
        std.fit([_phantom(0), np.full((5, 5, 5), 3.0)])
    with pytest.raises(ValueError, match="fewer masks"):
        std.fit([_phantom(0), _phantom(1)], masks=[_phantom(0) > 100])
    with pytest.raises(ValueError, match="mask shape"):
        std.image_landmarks(_phantom(0), np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="NaN"):
        bad = _phantom(0)
        bad[3, 3, 3] = np.nan
        std.image_landmarks(bad, np.ones(bad.shape))
    fitted = HistogramStandardizer().fit(_training_images())
    with pytest.raises(ValueError, match="landmarks must have shape"):
        fitted.map_intensities([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="kind"):
        HistogramStandardizer.from_dict({"kind": "other"})
    d = fitted.to_dict()
    d["standard_landmarks"] = d["standard_landmarks"][::-1]
    with pytest.raises(ValueError, match="standard_landmarks"):
        HistogramStandardizer.from_dict(d)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="bad.json"):
        HistogramStandardizer.load(tmp_path / "bad.json")
    assert len(DEFAULT_PERCENTILES) == 11
