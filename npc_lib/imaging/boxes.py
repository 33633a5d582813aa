"""Tumour-centred 2D boxes, one per tumour slice (analysis A3).

The paper's network "only required the approximate central location of ROI":
it takes tumour-centred boxes, not the contour. A patient's boxes are the
instances of one multiple-instance-learning bag.

Choice of centre: by default the in-plane centroid of the **whole 3D ROI**
(``centre="roi"``), one centre per patient. Reasons: (i) that is the paper's
"approximate central location"; (ii) all boxes of a bag share one frame, so how
the tumour grows and shifts from slice to slice stays visible to the network
instead of being cancelled by re-centring; (iii) the small, irregular
contours of the end slices do not move the box. ``centre="slice"`` (centroid
of each slice's mask) is offered for comparison.

Besides its centre, the mask only decides *which* slices give a box (those
with at least ``min_area`` tumour voxels): changing the contour without
moving its centroid or its slice set leaves the boxes unchanged.
"""

from __future__ import annotations

__all__ = ["tumour_slices", "roi_centre", "tumour_boxes", "resize_boxes"]

import numpy as np
from scipy import ndimage

from npc_lib.cohort.volume import Volume

_CENTRES = ("roi", "slice")
_PADS = ("constant", "edge")


def _data(x, name: str) -> np.ndarray:
    data = np.asarray(x.data if isinstance(x, Volume) else x)
    if data.ndim != 3:
        raise ValueError(f"{name} must be 3D (nx, ny, nz), got shape {data.shape}")
    return data


def _check_size(box_size) -> tuple[int, int]:
    size = tuple(np.atleast_1d(box_size).tolist())
    if len(size) == 1:
        size = size * 2
    if len(size) != 2 or not all(float(s) == int(s) and int(s) >= 1 for s in size):
        raise ValueError(f"box_size must be one or two positive integers (H, W), got {box_size!r}")
    return int(size[0]), int(size[1])


def _check_mm(name: str, value) -> np.ndarray:
    v = np.atleast_1d(np.asarray(value, dtype=float))
    if v.size == 1:
        v = np.repeat(v, 2)
    if v.size != 2 or not np.all(np.isfinite(v)) or np.any(v <= 0):
        raise ValueError(f"{name} must be one or two positive numbers (mm), got {value!r}")
    return v


def tumour_slices(roi, min_area: int = 1) -> np.ndarray:
    """Indices of the axial slices holding at least ``min_area`` tumour voxels.

    Parameters
    ----------
    roi : Volume or ndarray, shape (nx, ny, nz)
        Tumour mask (nonzero = tumour).
    min_area : int
        Minimum number of tumour voxels on a slice.

    Returns
    -------
    ndarray of int, increasing

    Examples
    --------
    >>> m = np.zeros((4, 4, 5), np.uint8); m[1:3, 1:3, 1] = 1; m[1, 1, 3] = 1
    >>> tumour_slices(m).tolist(), tumour_slices(m, min_area=2).tolist()
    ([1, 3], [1])
    """
    mask = _data(roi, "roi") != 0
    if int(min_area) != min_area or min_area < 1:
        raise ValueError(f"min_area must be a positive integer, got {min_area!r}")
    return np.flatnonzero(mask.sum(axis=(0, 1)) >= min_area)


def roi_centre(roi, slices=None) -> np.ndarray:
    """In-plane centroid of the tumour mask, in voxel index units.

    Parameters
    ----------
    roi : Volume or ndarray, shape (nx, ny, nz)
        Tumour mask (nonzero = tumour).
    slices : sequence of int, optional
        If given, one centroid per listed slice (each slice's own mask);
        otherwise the centroid of the whole 3D mask.

    Returns
    -------
    ndarray, shape (2,) or (len(slices), 2)
        (x, y) voxel coordinates.

    Examples
    --------
    >>> m = np.zeros((5, 5, 2), np.uint8); m[1, 1, 0] = 1; m[3, 2, 1] = 1
    >>> roi_centre(m).tolist(), roi_centre(m, [0, 1]).tolist()
    ([2.0, 1.5], [[1.0, 1.0], [3.0, 2.0]])
    """
    mask = _data(roi, "roi") != 0
    if slices is None:
        if not mask.any():
            raise ValueError("roi is empty: no tumour voxel")
        xs, ys, _ = np.nonzero(mask)
        return np.array([xs.mean(), ys.mean()])
    sub = mask[:, :, np.asarray(slices, dtype=int)]
    area = sub.sum(axis=(0, 1)).astype(float)
    if np.any(area == 0):
        raise ValueError(f"roi is empty on slice(s) {np.asarray(slices)[area == 0].tolist()}")
    gx = np.arange(mask.shape[0], dtype=float)[:, None, None]
    gy = np.arange(mask.shape[1], dtype=float)[None, :, None]
    return np.stack([(sub * gx).sum(axis=(0, 1)) / area, (sub * gy).sum(axis=(0, 1)) / area], axis=1)


def _window(data: np.ndarray, lo: np.ndarray, hi: np.ndarray, z: np.ndarray, pad: str) -> np.ndarray:
    """``data[lo0:hi0, lo1:hi1, z]``, parts outside the image filled by ``pad``.

    The window always overlaps the image (callers keep box centres inside it).
    """
    n = np.array(data.shape[:2])
    a, b = np.clip(lo, 0, n), np.clip(hi, 0, n)
    inner = data[a[0] : b[0], a[1] : b[1]][:, :, z]
    widths = ((int(a[0] - lo[0]), int(hi[0] - b[0])), (int(a[1] - lo[1]), int(hi[1] - b[1])), (0, 0))
    if pad == "constant":
        return np.pad(inner, widths, mode="constant", constant_values=0)
    return np.pad(inner, widths, mode="edge")


def tumour_boxes(
    image,
    roi,
    box_size=(64, 64),
    *,
    pixel_mm=None,
    centre: str = "roi",
    jitter_mm: float = 0.0,
    min_area: int = 1,
    pad: str = "constant",
    antialias: bool = True,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Cut one tumour-centred box from every slice that holds tumour.

    Parameters
    ----------
    image : Volume or ndarray, shape (nx, ny, nz)
        MR volume (any intensity scale).
    roi : Volume or ndarray, shape (nx, ny, nz)
        Tumour mask on the same grid (nonzero = tumour); only its centroid and
        its slice set are used.
    box_size : int or (int, int)
        Box size (H, W) in output pixels (H along x, W along y).
    pixel_mm : float or (float, float), optional
        ``None`` (default): the box is an exact crop of the image's own grid
        (the image is already resampled), centred on the voxel nearest the
        centre. A size in mm: the box is sampled bilinearly from the image at
        that pixel spacing around the exact centre - in-plane resampling to a
        common spacing done only where the box lies. Needs a Volume.
    centre : {"roi", "slice"}
        In-plane centre: centroid of the whole 3D ROI (default, see the module
        notes) or of each slice's own mask.
    jitter_mm : float
        Shift the centre by a uniform random amount in
        ``[-jitter_mm, jitter_mm]`` mm along x and y (one shift for all boxes
        of the call). Needs ``rng`` and a Volume.
    min_area : int
        Minimum number of tumour voxels for a slice to give a box.
    pad : {"constant", "edge"}
        Fill outside the image: zeros (air) or the nearest edge value.
    antialias : bool
        With ``pixel_mm`` coarser than the voxel size, smooth with a Gaussian
        of sigma ``(step - 1) / 2`` voxels first (as ``skimage.transform.resize``).
    rng : numpy.random.Generator, optional
        Source of the jitter.

    Returns
    -------
    boxes : ndarray, float32, shape (n_slices, H, W)
    slice_index : ndarray of int, shape (n_slices,)
        The tumour slices, increasing.

    Examples
    --------
    >>> img = np.arange(10 * 10 * 3, dtype=float).reshape(10, 10, 3)
    >>> roi = np.zeros((10, 10, 3), np.uint8); roi[4:7, 4:7, 1:] = 1
    >>> boxes, z = tumour_boxes(img, roi, box_size=3)
    >>> boxes.shape, z.tolist(), bool((boxes[0] == img[4:7, 4:7, 1]).all())
    ((2, 3, 3), [1, 2], True)
    """
    data = _data(image, "image")
    mask_vol = _data(roi, "roi")
    if mask_vol.shape != data.shape:
        raise ValueError(f"roi shape {mask_vol.shape} differs from image shape {data.shape}")
    if centre not in _CENTRES:
        raise ValueError(f"centre must be one of {_CENTRES}, got {centre!r}")
    if pad not in _PADS:
        raise ValueError(f"pad must be one of {_PADS}, got {pad!r}")
    h, w = _check_size(box_size)
    jitter_mm = float(jitter_mm)
    if not np.isfinite(jitter_mm) or jitter_mm < 0:
        raise ValueError(f"jitter_mm must be >= 0, got {jitter_mm!r}")
    needs_spacing = pixel_mm is not None or jitter_mm > 0
    if needs_spacing and not isinstance(image, Volume):
        raise ValueError("pixel_mm and jitter_mm need the voxel spacing: pass image as a Volume")
    spacing = np.asarray(image.spacing[:2], dtype=float) if isinstance(image, Volume) else np.ones(2)

    z = tumour_slices(mask_vol, min_area)
    if z.size == 0:
        raise ValueError(f"roi has no slice with >= {min_area} tumour voxel(s)")
    centres = roi_centre(mask_vol, z) if centre == "slice" else np.tile(roi_centre(mask_vol), (z.size, 1))
    if jitter_mm > 0:
        if rng is None:
            raise ValueError("jitter_mm > 0 needs rng (a numpy Generator)")
        centres = centres + rng.uniform(-jitter_mm, jitter_mm, size=2) / spacing
    centres = np.clip(centres, 0, np.array(data.shape[:2]) - 1)

    size = np.array([h, w])
    if pixel_mm is None:
        # exact crop: integer start so that the box centre is within half a voxel of the target
        start = np.floor(centres - (size - 1) / 2 + 0.5).astype(int)  # (n, 2)
        lo, hi = start.min(axis=0), start.max(axis=0) + size
        win = _window(data, lo, hi, z, pad).astype(np.float32, copy=False)
        ix = (start[:, 0] - lo[0])[:, None] + np.arange(h)[None, :]
        iy = (start[:, 1] - lo[1])[:, None] + np.arange(w)[None, :]
        k = np.arange(z.size)
        return np.ascontiguousarray(win[ix[:, :, None], iy[:, None, :], k[:, None, None]]), z

    step = _check_mm("pixel_mm", pixel_mm) / spacing  # output pixel in input voxels
    sigma = np.where(step > 1, (step - 1) / 2, 0.0) if antialias else np.zeros(2)
    margin = np.ceil(4 * sigma).astype(int) + 2
    offs_x = (np.arange(h) - (h - 1) / 2) * step[0]
    offs_y = (np.arange(w) - (w - 1) / 2) * step[1]
    gx = centres[:, 0, None] + offs_x[None, :]  # (n, h)
    gy = centres[:, 1, None] + offs_y[None, :]  # (n, w)
    lo = np.floor([gx.min(), gy.min()]).astype(int) - margin
    hi = np.ceil([gx.max(), gy.max()]).astype(int) + margin + 1
    win = _window(data, lo, hi, z, pad).astype(np.float32, copy=False)
    if np.any(sigma > 0):
        win = ndimage.gaussian_filter(win, sigma=(sigma[0], sigma[1], 0.0), mode="nearest", truncate=4.0)
    n = z.size
    coords = np.empty((3, n, h, w))
    coords[0] = (gx - lo[0])[:, :, None]
    coords[1] = (gy - lo[1])[:, None, :]
    coords[2] = np.arange(n, dtype=float)[:, None, None]
    out = ndimage.map_coordinates(win, coords.reshape(3, -1), order=1, mode="nearest", prefilter=False)
    return out.reshape(n, h, w).astype(np.float32, copy=False), z


def resize_boxes(boxes: np.ndarray, size, *, antialias: bool = True) -> np.ndarray:
    """Resize a stack of 2D boxes bilinearly (pixel-area aligned).

    Parameters
    ----------
    boxes : ndarray, shape (n, H, W)
        Boxes covering a fixed physical field of view.
    size : int or (int, int)
        Output (h, w); the field of view is kept, so the pixel size becomes
        ``H / h`` times larger.
    antialias : bool
        When shrinking, smooth with a Gaussian of sigma ``(H / h - 1) / 2``
        pixels first.

    Returns
    -------
    ndarray, float32, shape (n, h, w)

    Examples
    --------
    >>> b = np.ones((2, 8, 8), np.float32)
    >>> resize_boxes(b, 4).shape, float(resize_boxes(b, 4).max())
    ((2, 4, 4), 1.0)
    """
    x = np.asarray(boxes, dtype=np.float32)
    if x.ndim != 3:
        raise ValueError(f"boxes must have shape (n, H, W), got {x.shape}")
    h, w = _check_size(size)
    if (h, w) == x.shape[1:]:
        return x.copy()
    factor = np.array([x.shape[1] / h, x.shape[2] / w])  # input pixels per output pixel
    if antialias and np.any(factor > 1):
        sig = np.where(factor > 1, (factor - 1) / 2, 0.0)
        x = ndimage.gaussian_filter(x, sigma=(0.0, sig[0], sig[1]), mode="nearest", truncate=4.0)
    offset = (factor - 1) / 2
    return ndimage.affine_transform(
        x,
        np.array([1.0, factor[0], factor[1]]),
        offset=np.array([0.0, offset[0], offset[1]]),
        output_shape=(x.shape[0], h, w),
        order=1,
        mode="nearest",
        prefilter=False,
    ).astype(np.float32, copy=False)
