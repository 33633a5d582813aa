"""A 3D MR volume with its geometry, read from NIfTI, in one canonical orientation.

Scanners export the same scan in different voxel orders (DICOM's LPS, NIfTI's
RAS, flipped or permuted axes). :func:`read_nifti` with ``canonical=True``
(what :class:`~npc_lib.cohort.load.Cohort` uses) reorders the voxels to the
closest RAS+ orientation (``nibabel.as_closest_canonical``): voxel indices
increase towards the patient's Right (x), Anterior (y) and Superior (z), so
the axial slices are ``data[:, :, k]`` and two exports of one scan give the
same array and the same boxes.
"""

from __future__ import annotations

__all__ = ["Volume", "read_nifti", "load_nifti", "orientation", "CANONICAL"]

from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: the orientation every volume is brought to before preprocessing
CANONICAL = "RAS"


@dataclass(frozen=True)
class Volume:
    """A 3D image on a voxel grid.

    Attributes
    ----------
    data : ndarray, shape (nx, ny, nz)
        Voxel values (float32 for images, uint8 0/1 for masks). Axes follow
        the NIfTI voxel order: x, y in-plane (axial slice), z through-plane
        (RAS after canonical reorientation).
    spacing : tuple of float
        Voxel size (dx, dy, dz) in millimetres.
    affine : ndarray, shape (4, 4)
        Voxel-to-world (RAS, mm) affine.
    """

    data: np.ndarray
    spacing: tuple[float, float, float]
    affine: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.data.shape)  # type: ignore[return-value]


def orientation(affine) -> str:
    """Axis codes of an affine, e.g. ``"LPS"`` or ``"RAS"``.

    >>> orientation(np.diag([-1.0, -1.0, 2.0, 1.0]))
    'LPS'
    """
    import nibabel as nib

    return "".join(nib.aff2axcodes(np.asarray(affine, dtype=float)))


def load_nifti(path: str | Path, *, canonical: bool = False):
    """Open a NIfTI file (header only) with trailing length-1 axes dropped.

    Parameters
    ----------
    path : path-like
        ``.nii`` or ``.nii.gz`` file.
    canonical : bool
        Reorient to the closest RAS+ orientation.

    Returns
    -------
    nibabel image (voxels not read yet)
    """
    import nibabel as nib

    img = nib.load(str(path))
    if len(img.shape) > 3:
        img = nib.squeeze_image(img)
    if canonical and len(img.shape) == 3:
        img = nib.as_closest_canonical(img)
    return img


def _spacing(affine: np.ndarray) -> tuple[float, float, float]:
    return tuple(float(s) for s in np.sqrt((np.asarray(affine)[:3, :3] ** 2).sum(axis=0)))  # type: ignore[return-value]


def read_nifti(path: str | Path, *, dtype=np.float32, canonical: bool = False) -> Volume:
    """Read a NIfTI file into a :class:`Volume` (no validation beyond nibabel's).

    Parameters
    ----------
    path : path-like
        ``.nii`` or ``.nii.gz`` file; trailing length-1 axes are dropped.
    dtype : numpy dtype
        Output dtype of ``data`` (the header's scaling is applied).
    canonical : bool
        Reorient to the closest RAS+ orientation (:data:`CANONICAL`);
        ``spacing`` and ``affine`` follow the reordered axes.

    Returns
    -------
    Volume
        ``spacing`` is the length of each affine column (mm).
    """
    img = load_nifti(path, canonical=canonical)
    data = np.asarray(img.dataobj, dtype=dtype)
    affine = np.asarray(img.affine, dtype=np.float64)
    return Volume(data=data, spacing=_spacing(affine), affine=affine)
