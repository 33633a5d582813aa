"""Structure sets: the centre-in-polygon fill against a naive ray cast; planes; reading contours."""

from __future__ import annotations

import numpy as np
import pytest

import dicom_factory as f
from npc_lib.dicom.problems import ProblemList
from npc_lib.dicom.rtstruct import fill_polygons, rasterise, read_structure_set


def _naive_even_odd(polygons, shape):
    """Each pixel centre tested against every edge (the textbook crossing test)."""
    out = np.zeros(shape, bool)
    for i in range(shape[0]):
        for j in range(shape[1]):
            inside = False
            for poly in polygons:
                n = len(poly)
                for a in range(n):
                    (x0, y0), (x1, y1) = poly[a], poly[(a + 1) % n]
                    if (y0 <= j) != (y1 <= j):
                        x = x0 + (j - y0) * (x1 - x0) / (y1 - y0)
                        if i < x:
                            inside = not inside
            out[i, j] = inside
    return out


@pytest.mark.parametrize("seed", range(6))
def test_fill_polygons_matches_naive_ray_cast(seed):
    rng = np.random.default_rng(seed)
    polys = []
    for _ in range(rng.integers(1, 4)):
        n = rng.integers(3, 12)
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        radius = rng.uniform(2, 8, n)
        centre = rng.uniform(5, 15, 2)
        polys.append(np.c_[centre[0] + radius * np.cos(angles), centre[1] + radius * np.sin(angles)] + 0.013)
    np.testing.assert_array_equal(fill_polygons(polys, (21, 19)), _naive_even_odd(polys, (21, 19)))


@pytest.mark.parametrize("seed", range(4))
def test_fill_polygons_reproduces_masks_from_pixel_edges(seed):
    rng = np.random.default_rng(seed)
    mask = rng.uniform(size=(16, 12)) < 0.45  # holes, pieces, diagonal touches
    assert np.array_equal(fill_polygons(f.boundary_polygons(mask), mask.shape), mask)


def test_rasterise_nearest_plane_within_half_a_slice():
    affine = np.diag([1.0, 1.0, 2.0, 1.0])
    square = np.array([[1.5, 1.5], [4.5, 1.5], [4.5, 4.5], [1.5, 4.5]])
    contours = [np.c_[square, np.full(4, 4.0)]]  # the plane z = 4 mm = slice 2
    r = rasterise(contours, affine, (8, 8, 5), source_spacing_mm=2.0)
    assert r.mask[:, :, 2].sum() == 9 and r.mask.sum() == 9 and r.n_planes == 1
    thick = rasterise(contours, affine, (8, 8, 5), source_spacing_mm=4.0)  # half of 4 mm reaches slices 1 and 3
    assert [int(thick.mask[:, :, k].sum()) for k in range(5)] == [0, 9, 9, 9, 0]
    with pytest.raises(ValueError, match="not parallel"):
        rasterise([np.array([[0, 0, 0], [3, 0, 4], [3, 3, 8.0]])], affine, (8, 8, 5))
    far = rasterise([c + [100.0, 0, 0] for c in contours], affine, (8, 8, 5))
    assert far.outside_fraction == 1.0 and not far.mask.any()


def test_read_structure_set_skips_open_contours(tmp_path):
    import pydicom

    image = np.zeros((6, 6, 3), np.int16)
    mask = np.zeros((6, 6, 3), np.uint8)
    mask[2:4, 2:4, 1] = 1
    series = f.write_series(tmp_path / "s", 1, image, np.eye(4), f.SeriesSpec("t1", 1), 1)
    f.write_rtstruct(tmp_path / "rs.dcm", 1, {"GTVnx": (mask, series)})
    ds = pydicom.dcmread(tmp_path / "rs.dcm")
    ds.ROIContourSequence[0].ContourSequence[0].ContourGeometricType = "OPEN_PLANAR"
    problems = ProblemList()
    ss = read_structure_set(ds, tmp_path / "rs.dcm", "p", problems)
    assert list(ss.rois) == ["GTVnx"] and ss.rois["GTVnx"].contours == []
    assert "1 open or point contour(s) ignored" in problems.render()
    assert ss.referenced_series == {series["uid"]}


def test_rasterise_contour_along_the_image_edge_is_inside():
    full = np.array([[-0.5, -0.5], [5.5, -0.5], [5.5, 3.5], [-0.5, 3.5]]) + [[-4e-5, 3e-5]]  # rounded coordinates
    r = rasterise([np.c_[full, np.zeros(4)]], np.eye(4), (6, 4, 1))
    assert r.outside_fraction == 0.0 and r.mask.all()
