"""Tests of npc_lib.imaging.resample (in-plane bilinear resampling)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npc_lib.cohort.volume import Volume
from npc_lib.imaging.resample import inplane_grid, resample_inplane


def _world(affine: np.ndarray, shape) -> np.ndarray:
    """World coordinates (3, nx, ny, nz) of every voxel centre."""
    idx = np.indices(shape, dtype=float).reshape(3, -1)
    return (affine[:3, :3] @ idx + affine[:3, 3:4]).reshape(3, *shape)


def _naive_bilinear(data: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Loop bilinear interpolation of each slice at x = xs[i], y = ys[j] (edge-clamped)."""
    nx, ny, nz = data.shape
    out = np.empty((xs.size, ys.size, nz))
    for i, x in enumerate(xs):
        for j, y in enumerate(ys):
            x_c, y_c = min(max(x, 0.0), nx - 1.0), min(max(y, 0.0), ny - 1.0)
            x0, y0 = min(int(np.floor(x_c)), max(nx - 2, 0)), min(int(np.floor(y_c)), max(ny - 2, 0))
            fx, fy = x_c - x0, y_c - y0
            x1, y1 = min(x0 + 1, nx - 1), min(y0 + 1, ny - 1)
            out[i, j] = (
                data[x0, y0] * (1 - fx) * (1 - fy)
                + data[x1, y0] * fx * (1 - fy)
                + data[x0, y1] * (1 - fx) * fy
                + data[x1, y1] * fx * fy
            )
    return out


@settings(max_examples=30, deadline=None)
@given(
    dx=st.floats(0.4, 2.0),
    dy=st.floats(0.4, 2.0),
    tx=st.floats(0.5, 1.5),
    ty=st.floats(0.5, 1.5),
)
def test_resample_inplane_linear_ramp_reproduced(dx, dy, tx, ty):
    shape = (17, 13, 3)
    affine = np.diag([dx, dy, 3.0, 1.0])
    affine[:3, 3] = [-10.0, 5.0, 2.0]
    w = _world(affine, shape)
    ramp = (2.0 * w[0] - 0.5 * w[1] + 0.1 * w[2] + 7.0).astype(np.float32)
    out = resample_inplane(Volume(ramp, (dx, dy, 3.0), affine), target_spacing=(tx, ty))
    w_new = _world(out.affine, out.shape)
    expected = 2.0 * w_new[0] - 0.5 * w_new[1] + 0.1 * w_new[2] + 7.0
    # source voxel coordinates of the new voxels: inside the input's centre hull -> exact
    src = np.linalg.solve(affine, np.concatenate([w_new.reshape(3, -1), np.ones((1, w_new[0].size))]))
    inside = ((src[0] >= -1e-9) & (src[0] <= shape[0] - 1 + 1e-9) & (src[1] >= -1e-9) & (src[1] <= shape[1] - 1 + 1e-9))
    inside = inside.reshape(out.shape)
    assert inside.mean() > 0.5
    np.testing.assert_allclose(out.data[inside], expected[inside], atol=1e-3)


def test_resample_inplane_identity_when_spacing_equals_target():
    rng = np.random.default_rng(0)
    data = rng.normal(size=(11, 9, 4)).astype(np.float32)
    affine = np.array([[0, -1.0, 0, 3], [1.0, 0, 0, -2], [0, 0, 2.5, 1], [0, 0, 0, 1]])
    out = resample_inplane(Volume(data, (1.0, 1.0, 2.5), affine), target_spacing=(1.0, 1.0))
    np.testing.assert_array_equal(out.data, data)
    np.testing.assert_allclose(out.affine, affine)
    assert out.spacing == (1.0, 1.0, 2.5)


def test_resample_inplane_mask_stays_binary():
    grid = np.indices((40, 30, 3), dtype=float)
    mask = (((grid[0] - 20) / 9) ** 2 + ((grid[1] - 14) / 6) ** 2 <= 1).astype(np.uint8)
    for order in (0, 1):
        out = resample_inplane(mask, (0.6, 0.8, 4.0), (1.0, 1.0), order=order, mask=True)
        assert out.data.dtype == np.uint8
        assert set(np.unique(out.data)) <= {0, 1}
        # area in mm^2 is kept to within a few percent
        area_in = mask[:, :, 0].sum() * 0.6 * 0.8
        area_out = out.data[:, :, 0].sum() * 1.0 * 1.0
        assert abs(area_out / area_in - 1) < 0.08


def test_resample_inplane_shape_follows_physical_extent():
    out = resample_inplane(np.zeros((100, 80, 5), np.float32), (0.5, 0.75, 5.0), (1.0, 1.0))
    assert out.shape == (50, 60, 5)
    out = resample_inplane(np.zeros((33, 21, 2), np.float32), (0.9, 1.1, 5.0), (0.5, 0.5))
    assert out.shape == (round(33 * 0.9 / 0.5), round(21 * 1.1 / 0.5), 2)
    extent_in = np.array([33 * 0.9, 21 * 1.1])
    extent_out = np.array(out.shape[:2]) * 0.5
    assert np.all(np.abs(extent_out - extent_in) <= 0.5 + 1e-9)


def test_resample_inplane_affine_keeps_field_of_view_centre():
    affine = np.array([[0.0, 0.7, 0, 10], [-0.6, 0, 0, 4], [0, 0, 3.0, -7], [0, 0, 0, 1]])
    data = np.zeros((20, 15, 2), np.float32)
    vol = Volume(data, (0.6, 0.7, 3.0), affine)
    out = resample_inplane(vol, target_spacing=(1.0, 1.0))
    c_old = affine @ np.array([(20 - 1) / 2, (15 - 1) / 2, 1, 1])
    c_new = out.affine @ np.array([(out.shape[0] - 1) / 2, (out.shape[1] - 1) / 2, 1, 1])
    np.testing.assert_allclose(c_new, c_old, atol=1e-9)
    # columns of the new affine have the target lengths (mm per voxel)
    np.testing.assert_allclose(np.linalg.norm(out.affine[:3, :3], axis=0), [1.0, 1.0, 3.0])


def test_resample_inplane_matches_naive_bilinear():
    rng = np.random.default_rng(1)
    data = rng.normal(size=(9, 7, 2)).astype(np.float32)
    shape, step, offset = inplane_grid(data.shape, (0.8, 1.3, 4.0), (0.5, 0.9))
    out = resample_inplane(data, (0.8, 1.3, 4.0), (0.5, 0.9))
    xs = offset[0] + np.arange(shape[0]) * step[0]
    ys = offset[1] + np.arange(shape[1]) * step[1]
    np.testing.assert_allclose(out.data, _naive_bilinear(data.astype(float), xs, ys), atol=1e-5)


def test_resample_inplane_slices_are_independent():
    rng = np.random.default_rng(2)
    data = rng.normal(size=(12, 10, 3)).astype(np.float32)
    full = resample_inplane(data, (0.7, 0.7, 5.0), (1.0, 1.0))
    for k in range(3):
        single = resample_inplane(data[:, :, k : k + 1], (0.7, 0.7, 5.0), (1.0, 1.0))
        np.testing.assert_array_equal(full.data[:, :, k], single.data[:, :, 0])
    assert full.spacing[2] == 5.0


def test_resample_inplane_bad_input_raises():
    data = np.zeros((4, 4, 2), np.float32)
    with pytest.raises(ValueError, match="spacing is required"):
        resample_inplane(data)
    with pytest.raises(ValueError, match="order must be 0"):
        resample_inplane(data, (1, 1, 1), order=3)
    with pytest.raises(ValueError, match="target_spacing"):
        resample_inplane(data, (1, 1, 1), (0.0, 1.0))
    with pytest.raises(ValueError, match="must be 3D"):
        resample_inplane(np.zeros((4, 4)), (1, 1, 1))
    with pytest.raises(ValueError, match="disagrees"):
        resample_inplane(Volume(data, (1.0, 1.0, 1.0), np.eye(4)), (2.0, 1.0, 1.0))
    bad = data.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        resample_inplane(bad, (1, 1, 1))
