"""In-plane resampling of MR volumes to a common pixel spacing (analysis A3).

The three scanners of a cohort acquire axial slices with different in-plane
pixel sizes. Before the network sees them, every slice is bilinearly
interpolated onto a common grid (the paper's "bilinear interpolation",
Fig. 1C); the slice thickness and the slice positions are left untouched, so
each output slice is the interpolation of exactly one input slice.

Grid convention: the new grid keeps the centre of the field of view fixed and
has exactly the target spacing; its size is ``round(n * spacing / target)``
along x and y, so the physical extent is kept to within one target pixel.
The returned affine maps the new voxel indices to the same world positions
as the input affine (``world = A_new @ [i, j, k, 1]``).
"""

from __future__ import annotations

__all__ = ["resample_inplane", "inplane_grid"]

import numpy as np
from scipy import ndimage

from npc_lib.cohort.volume import Volume


def _check_spacing(name: str, value, n: int) -> tuple[float, ...]:
    try:
        out = tuple(float(v) for v in np.ravel(value))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be {n} positive numbers, got {value!r}") from exc
    if len(out) != n or not all(np.isfinite(v) and v > 0 for v in out):
        raise ValueError(f"{name} must be {n} positive finite numbers (mm), got {value!r}")
    return out


def _check_volume(volume, spacing) -> Volume:
    """Return ``volume`` as a :class:`Volume`, reconciling an explicit ``spacing``."""
    if isinstance(volume, Volume):
        if spacing is not None:
            given = _check_spacing("spacing", spacing, 3)
            if not np.allclose(given, volume.spacing, rtol=1e-6):
                raise ValueError(f"spacing {given} disagrees with the volume's spacing {tuple(volume.spacing)}")
        data, sp, affine = volume.data, tuple(map(float, volume.spacing)), np.asarray(volume.affine, float)
    else:
        data = np.asarray(volume)
        if spacing is None:
            raise ValueError("spacing is required when volume is an array")
        sp = _check_spacing("spacing", spacing, 3)
        affine = np.diag([*sp, 1.0])
    if data.ndim != 3:
        raise ValueError(f"volume must be 3D (nx, ny, nz), got shape {data.shape}")
    if min(data.shape) < 1:
        raise ValueError(f"volume must not be empty, got shape {data.shape}")
    _check_spacing("volume spacing", sp, 3)
    if affine.shape != (4, 4):
        raise ValueError(f"affine must be 4x4, got {affine.shape}")
    return Volume(data=data, spacing=sp, affine=affine)  # type: ignore[arg-type]


def inplane_grid(
    shape: tuple[int, int, int], spacing, target_spacing=(1.0, 1.0)
) -> tuple[tuple[int, int, int], np.ndarray, np.ndarray]:
    """Size and position of the resampled in-plane grid.

    Parameters
    ----------
    shape : tuple of int
        Input grid (nx, ny, nz).
    spacing : sequence of float
        Input voxel size (dx, dy, dz) in mm.
    target_spacing : sequence of 2 float
        Output in-plane pixel size (dx', dy') in mm.

    Returns
    -------
    new_shape : tuple of int
        (nx', ny', nz) with ``nx' = max(1, round(nx * dx / dx'))``.
    step : ndarray, shape (2,)
        Output pixel size in input-voxel units (``dx' / dx``, ``dy' / dy``).
    offset : ndarray, shape (2,)
        Input-voxel coordinate of output pixel 0: the field-of-view centre
        ``(n - 1) / 2`` is kept fixed.

    Examples
    --------
    >>> shape, step, offset = inplane_grid((10, 10, 3), (0.5, 0.5, 4.0), (1.0, 1.0))
    >>> shape, step.tolist(), offset.tolist()
    ((5, 5, 3), [2.0, 2.0], [0.5, 0.5])
    """
    sp = _check_spacing("spacing", spacing, 3)
    tg = _check_spacing("target_spacing", target_spacing, 2)
    n = np.asarray(shape[:2], dtype=float)
    step = np.asarray(tg) / np.asarray(sp[:2])
    new_n = np.maximum(1, np.floor(n / step + 0.5)).astype(int)
    offset = (n - 1) / 2 - (new_n - 1) / 2 * step
    return (int(new_n[0]), int(new_n[1]), int(shape[2])), step, offset


def resample_inplane(
    volume: Volume | np.ndarray,
    spacing=None,
    target_spacing=(1.0, 1.0),
    order: int = 1,
    *,
    mask: bool = False,
) -> Volume:
    """Resample every axial slice of a volume to a common in-plane spacing.

    Parameters
    ----------
    volume : Volume or ndarray, shape (nx, ny, nz)
        Image or mask. An array needs ``spacing``; its affine is taken as
        ``diag(spacing, 1)``.
    spacing : sequence of 3 float, optional
        Voxel size (dx, dy, dz) in mm; defaults to ``volume.spacing``.
    target_spacing : sequence of 2 float
        Output in-plane pixel size in mm (default 1 x 1 mm).
    order : {1, 0}
        1: bilinear interpolation (images); 0: nearest neighbour.
    mask : bool
        Treat the input as a binary mask: interpolate with ``order`` and keep
        values >= 0.5, returning uint8 0/1. With ``order=1`` this is the
        smoother "bilinear then threshold" rule.

    Returns
    -------
    Volume
        ``data`` float32 (uint8 when ``mask``) of shape
        ``(round(nx * dx / dx'), round(ny * dy / dy'), nz)``, spacing
        ``(dx', dy', dz)``, and an affine mapping the new indices to the same
        world positions. Samples that fall outside the outermost input voxel
        centres (at most half an input voxel) take the nearest edge value.

    Notes
    -----
    Bilinear interpolation reproduces any function that is linear in x and y
    exactly between the input voxel centres. The through-plane axis is not
    interpolated (output slice k is input slice k).

    Examples
    --------
    >>> ramp = np.tile(np.arange(4.0)[:, None, None], (1, 2, 1))   # value = x index
    >>> out = resample_inplane(ramp, (1.0, 1.0, 3.0), (0.5, 1.0))
    >>> out.shape, out.spacing
    ((8, 2, 1), (0.5, 1.0, 3.0))
    >>> out.data[:, 0, 0].tolist()      # centres at x = -0.25, 0.25, ..., 3.25
    [0.0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.0]
    """
    vol = _check_volume(volume, spacing)
    if order not in (0, 1):
        raise ValueError(f"order must be 0 (nearest) or 1 (bilinear), got {order!r}")
    new_shape, step, offset = inplane_grid(vol.shape, vol.spacing, target_spacing)
    data = np.asarray(vol.data, dtype=np.float32)
    if not np.isfinite(data).all():
        raise ValueError("volume holds NaN or infinite voxels")
    identity = new_shape == tuple(data.shape) and np.allclose(step, 1.0) and np.allclose(offset, 0.0)
    if identity:
        out = data.copy()
    else:
        # diagonal matrix -> scipy's separable fast path; z is mapped to itself
        out = ndimage.affine_transform(
            data,
            np.array([step[0], step[1], 1.0]),
            offset=np.array([offset[0], offset[1], 0.0]),
            output_shape=new_shape,
            order=order,
            mode="nearest",
            prefilter=False,
        )
    if mask:
        out = (out >= 0.5).astype(np.uint8)
    to_old = np.eye(4)
    to_old[0, 0], to_old[1, 1] = step
    to_old[:2, 3] = offset
    tg = _check_spacing("target_spacing", target_spacing, 2)
    return Volume(
        data=out,
        spacing=(tg[0], tg[1], float(vol.spacing[2])),
        affine=np.asarray(vol.affine, float) @ to_old,
    )
