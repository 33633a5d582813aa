"""Tests of npc_lib.imaging.boxes (tumour-centred boxes)."""

from __future__ import annotations

import numpy as np
import pytest

from npc_lib.cohort.volume import Volume
from npc_lib.imaging.boxes import resize_boxes, roi_centre, tumour_boxes, tumour_slices
from npc_lib.imaging.resample import resample_inplane


def _disc_mask(shape, centre, radius, slices) -> np.ndarray:
    g = np.indices(shape[:2], dtype=float)
    disc = (g[0] - centre[0]) ** 2 + (g[1] - centre[1]) ** 2 <= radius**2
    mask = np.zeros(shape, np.uint8)
    for k in slices:
        mask[:, :, k] = disc
    return mask


def _vol(data, spacing) -> Volume:
    return Volume(np.asarray(data, np.float32), tuple(spacing), np.diag([*spacing, 1.0]))


def test_tumour_boxes_centred_on_blob():
    shape = (40, 36, 7)
    mask = _disc_mask(shape, (22, 13), 4, [2, 3, 4])
    g = np.indices(shape[:2], dtype=float)
    image = np.exp(-((g[0] - 22) ** 2 + (g[1] - 13) ** 2) / 20.0)[:, :, None] * np.ones(shape)
    boxes, z = tumour_boxes(image, mask, box_size=(9, 9))
    assert boxes.shape == (3, 9, 9) and boxes.dtype == np.float32
    assert z.tolist() == [2, 3, 4]
    for b in boxes:
        assert np.unravel_index(np.argmax(b), b.shape) == (4, 4)  # the blob's peak is the centre pixel
        np.testing.assert_allclose(b, b[::-1, ::-1], atol=1e-6)  # point-symmetric about it
    np.testing.assert_array_equal(boxes[0], image[18:27, 9:18, 2].astype(np.float32))


def test_tumour_boxes_count_equals_tumour_slices_and_min_area():
    mask = np.zeros((20, 20, 8), np.uint8)
    mask[8:12, 8:12, 1] = 1
    mask[8:12, 8:12, 3:6] = 1
    mask[10, 10, 7] = 1
    image = np.random.default_rng(0).normal(size=mask.shape)
    boxes, z = tumour_boxes(image, mask, 6)
    assert len(boxes) == 5 and z.tolist() == [1, 3, 4, 5, 7] == tumour_slices(mask).tolist()
    boxes, z = tumour_boxes(image, mask, 6, min_area=2)
    assert z.tolist() == [1, 3, 4, 5]
    np.testing.assert_array_equal(boxes[0], image[7:13, 7:13, 1].astype(np.float32))


def test_tumour_boxes_pad_at_borders():
    image = np.arange(10 * 10 * 2, dtype=float).reshape(10, 10, 2) + 1.0
    mask = np.zeros((10, 10, 2), np.uint8)
    mask[0:2, 0:2, 1] = 1  # centroid (0.5, 0.5) -> nearest voxel (1, 1)
    boxes, _ = tumour_boxes(image, mask, 6)
    # box rows/cols -2..3 around the centre: two rows and columns outside the image
    assert np.all(boxes[0, :2, :] == 0) and np.all(boxes[0, :, :2] == 0)
    np.testing.assert_array_equal(boxes[0, 2:, 2:], image[0:4, 0:4, 1])
    edge, _ = tumour_boxes(image, mask, 6, pad="edge")
    np.testing.assert_array_equal(edge[0, 0, 2:], image[0, 0:4, 1])
    np.testing.assert_array_equal(edge[0, 0, 0], image[0, 0, 1])
    mm, _ = tumour_boxes(_vol(image, (1.0, 1.0, 3.0)), mask, 6, pixel_mm=1.0)
    assert mm[0, 0, 0] == 0.0 and mm[0, -1, -1] > 0


def test_tumour_boxes_ignore_contour_beyond_centre_and_slices():
    shape = (30, 30, 5)
    image = np.random.default_rng(3).normal(size=shape)
    small = _disc_mask(shape, (15, 12), 3, [1, 2, 3])
    big = _disc_mask(shape, (15, 12), 6, [1, 2, 3])
    big[15, 12, 2] = 0  # a hole at the centre: centroid unchanged by symmetry
    square = np.zeros(shape, np.uint8)
    square[11:20, 8:17, 1:4] = 1
    assert np.allclose(roi_centre(small), roi_centre(big)) and np.allclose(roi_centre(small), roi_centre(square))
    ref, z_ref = tumour_boxes(image, small, 11)
    for other in (big, square):
        boxes, z = tumour_boxes(image, other, 11)
        np.testing.assert_array_equal(boxes, ref)
        np.testing.assert_array_equal(z, z_ref)
    vol = _vol(image, (0.7, 0.7, 4.0))
    np.testing.assert_array_equal(
        tumour_boxes(vol, small, 11, pixel_mm=1.0)[0], tumour_boxes(vol, square, 11, pixel_mm=1.0)[0]
    )


def test_tumour_boxes_slice_centre_follows_each_slice():
    shape = (30, 30, 3)
    mask = np.zeros(shape, np.uint8)
    mask[5:8, 5:8, 0] = 1
    mask[20:23, 20:23, 2] = 1
    image = np.zeros(shape)
    image[6, 6, 0] = image[21, 21, 2] = 1.0
    per_slice, z = tumour_boxes(image, mask, 5, centre="slice")
    assert z.tolist() == [0, 2]
    assert per_slice[0, 2, 2] == 1.0 and per_slice[1, 2, 2] == 1.0
    whole, _ = tumour_boxes(image, mask, 5, centre="roi")
    assert whole.sum() == 0.0  # 3D centroid (13.5, 13.5) is far from both peaks


def test_tumour_boxes_pixel_mm_samples_linear_ramp_at_physical_positions():
    spacing = (0.6, 0.8, 4.0)
    shape = (60, 50, 4)
    g = np.indices(shape, dtype=float)
    ramp = 3.0 * g[0] * spacing[0] - 2.0 * g[1] * spacing[1] + 10.0 * g[2]
    mask = _disc_mask(shape, (30, 25), 5, [1, 2])
    boxes, z = tumour_boxes(_vol(ramp, spacing), mask, (16, 12), pixel_mm=(1.0, 1.5))
    c = roi_centre(mask) * np.array(spacing[:2])  # mm
    x_mm = c[0] + (np.arange(16) - 7.5) * 1.0
    y_mm = c[1] + (np.arange(12) - 5.5) * 1.5
    for b, k in zip(boxes, z):
        expected = 3.0 * x_mm[:, None] - 2.0 * y_mm[None, :] + 10.0 * k
        np.testing.assert_allclose(b, expected, atol=1e-3)  # Gaussian anti-aliasing keeps a ramp


def test_tumour_boxes_pixel_mm_agrees_with_resample_then_crop():
    spacing = (0.5, 0.5, 4.0)
    rng = np.random.default_rng(5)
    image = rng.normal(size=(40, 40, 3)).astype(np.float32)
    mask = np.zeros(image.shape, np.uint8)
    mask[15:21, 15:21, 1] = 1  # centroid 17.5 voxels: on the 1-mm grid of resample_inplane
    vol = _vol(image, spacing)
    fused, _ = tumour_boxes(vol, mask, 8, pixel_mm=1.0, antialias=False)
    rs = resample_inplane(vol, target_spacing=(1.0, 1.0))
    # new pixel i sits at old voxel 0.25 + 2 i: old 17.5 = new pixel 8.625? use the grid maths instead
    rs_mask = resample_inplane(mask, spacing, (1.0, 1.0), mask=True)
    crop, _ = tumour_boxes(rs, rs_mask, 8)
    start = int(np.floor(roi_centre(rs_mask)[0] - 3.5 + 0.5))
    x_old = 0.5 + 2.0 * (start + np.arange(8))  # resampled pixel i sits at old voxel 0.5 + 2 i
    assert np.allclose(x_old, 17.5 + (np.arange(8) - 3.5) * 2.0)  # same sample positions
    np.testing.assert_allclose(fused, crop, atol=1e-5)


def test_tumour_boxes_jitter_is_seeded_and_bounded():
    shape = (40, 40, 3)
    image = np.indices(shape, dtype=float)[0]  # value = x index
    mask = _disc_mask(shape, (20, 20), 4, [1])
    vol = _vol(image, (0.5, 0.5, 3.0))
    a, _ = tumour_boxes(vol, mask, 8, pixel_mm=0.5, jitter_mm=2.0, rng=np.random.default_rng(7))
    b, _ = tumour_boxes(vol, mask, 8, pixel_mm=0.5, jitter_mm=2.0, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    base, _ = tumour_boxes(vol, mask, 8, pixel_mm=0.5)
    shift_vox = float(np.mean(a - base))
    assert 0 < abs(shift_vox) <= 2.0 / 0.5
    with pytest.raises(ValueError, match="needs rng"):
        tumour_boxes(vol, mask, 8, jitter_mm=1.0)


def test_resize_boxes_shapes_constants_and_ramps():
    n = np.arange(32, dtype=float)
    ramp = np.stack([n[:, None] + 0 * n[None, :], 2 * n[None, :] + 0 * n[:, None]]).astype(np.float32)
    small = resize_boxes(ramp, 16)
    assert small.shape == (2, 16, 16)
    # pixel-area alignment: output pixel i covers input pixels 2i, 2i+1 -> centre 2i + 0.5
    np.testing.assert_allclose(small[0, 2:-2, 5], 2 * np.arange(2, 14) + 0.5, atol=1e-4)
    np.testing.assert_array_equal(resize_boxes(ramp, 32), ramp)
    np.testing.assert_allclose(resize_boxes(np.full((1, 9, 9), 4.0), (3, 5)), 4.0)


def test_roi_centre_values():
    mask = np.zeros((6, 6, 2), np.uint8)
    mask[1:3, 2:5, 0] = 1
    np.testing.assert_allclose(roi_centre(mask), [1.5, 3.0])
    with pytest.raises(ValueError, match="empty on slice"):
        roi_centre(mask, [1])


def test_tumour_boxes_bad_input_raises():
    image = np.zeros((8, 8, 2))
    mask = np.zeros((8, 8, 2), np.uint8)
    with pytest.raises(ValueError, match="no slice"):
        tumour_boxes(image, mask, 4)
    mask[3, 3, 0] = 1
    with pytest.raises(ValueError, match="roi shape"):
        tumour_boxes(image, mask[:, :, :1], 4)
    with pytest.raises(ValueError, match="centre must be"):
        tumour_boxes(image, mask, 4, centre="box")
    with pytest.raises(ValueError, match="pad must be"):
        tumour_boxes(image, mask, 4, pad="reflect")
    with pytest.raises(ValueError, match="box_size"):
        tumour_boxes(image, mask, (4, 0))
    with pytest.raises(ValueError, match="pass image as a Volume"):
        tumour_boxes(image, mask, 4, pixel_mm=1.0)
    with pytest.raises(ValueError, match="min_area"):
        tumour_slices(mask, 0)
