"""A 3D MR volume with its geometry, read from NIfTI."""

from __future__ import annotations

__all__ = ["Volume", "read_nifti"]

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Volume:
    """A 3D image on a voxel grid.

    Attributes
    ----------
    data : ndarray, shape (nx, ny, nz)
        Voxel values (float32 for images, uint8 0/1 for masks). Axes follow
        the NIfTI voxel order: x, y in-plane (axial slice), z through-plane.
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


def read_nifti(path: str | Path, *, dtype=np.float32) -> Volume:
    """Read a NIfTI file into a :class:`Volume` (no validation beyond nibabel's).

    Parameters
    ----------
    path : path-like
        ``.nii`` or ``.nii.gz`` file.
    dtype : numpy dtype
        Output dtype of ``data``.
    """
    import nibabel as nib

    img = nib.load(str(path))
    data = np.asarray(img.dataobj, dtype=dtype)
    zooms = tuple(float(z) for z in img.header.get_zooms()[:3])
    return Volume(data=data, spacing=zooms, affine=np.asarray(img.affine, dtype=np.float64))
