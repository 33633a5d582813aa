"""Checks of a cohort's MR volumes and tumour masks (analyses A1, A3, B5).

:class:`ImageIndex` finds each patient's files as real exports store them:
``images/`` in any case, folder names compared in Unicode NFC (macOS writes
NFD), ``.nii.gz`` or ``.nii``. :func:`check_patient_images` collects every
problem of one patient's volumes; :func:`mask_to_binary` is the single rule
for masks, used by validation and by :meth:`Cohort.read_roi`:

* values 0/1 (or booleans): the mask;
* 0 and one other value (0/255, 0/1000): that value is the tumour (a note);
* floats all within :data:`NEAR_BINARY_TOL` of 0 or 1 (0.99999994 after a
  resampling): thresholded at 0.5 (a note);
* several labels (two or more non-zero values): an error unless
  ``roi_label`` names the tumour's (masks with one label ignore it);
* no tumour voxel: an error; more than :data:`MASK_COVERAGE_WARN` of the
  volume: a warning (an inverted mask?).

Volumes: readable NIfTI, 3D after dropping trailing length-1 axes, finite
non-zero voxel sizes and a non-singular affine, finite voxels, not constant;
a mask on its image's grid (shape, affine within :data:`AFFINE_ATOL_MM`).
"""

from __future__ import annotations

__all__ = [
    "ImageIndex",
    "check_patient_images",
    "canonical_grid",
    "mask_to_binary",
    "MaskProblem",
    "AFFINE_ATOL_MM",
    "NEAR_BINARY_TOL",
    "MASK_COVERAGE_WARN",
]

import unicodedata
from pathlib import Path

import numpy as np

from npc_lib.cohort import schema
from npc_lib.cohort.problems import Problem
from npc_lib.cohort.volume import orientation

#: largest allowed difference between a mask's and its image's affine entries (mm)
AFFINE_ATOL_MM = 1e-4
#: a float mask whose values all lie within this of 0 or 1 is thresholded at 0.5
NEAR_BINARY_TOL = 0.01
#: a mask covering more than this fraction of its volume gets a warning
MASK_COVERAGE_WARN = 0.5


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


class ImageIndex:
    """Where each patient's volumes are, as found on disk.

    Parameters
    ----------
    root : Path
        Cohort folder.

    Attributes
    ----------
    images_dir : Path or None
        ``images/`` (or a case variant such as ``Images/``), None if absent.
    folders : dict
        NFC folder name -> folder path.
    notes : list of str
        How the layout differs from the contract (a case variant, NFD names).
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        self.notes: list[str] = []
        self.images_dir = None
        exact = self.root / schema.IMAGES_DIR
        if exact.is_dir():
            self.images_dir = exact
        elif self.root.is_dir():
            variants = [p for p in sorted(self.root.iterdir()) if p.is_dir() and p.name.lower() == schema.IMAGES_DIR]
            if variants:
                self.images_dir = variants[0]
                self.notes.append(f"image folder {variants[0].name}/ read as {schema.IMAGES_DIR}/")
        self.folders: dict[str, Path] = {}
        if self.images_dir is not None:
            n_nfd = 0
            for p in sorted(self.images_dir.iterdir()):
                if p.is_dir() and not p.name.startswith("."):
                    name = _nfc(p.name)
                    n_nfd += name != p.name
                    self.folders.setdefault(name, p)
            if n_nfd:
                self.notes.append(f"{n_nfd} folder name(s) in decomposed Unicode (NFD) matched to the ids in NFC")
        self._files: dict[str, dict[str, Path]] = {}

    def folder(self, pid: str) -> Path | None:
        return self.folders.get(_nfc(pid))

    def _listing(self, pid: str) -> dict[str, Path]:
        if pid not in self._files:
            folder = self.folder(pid)
            files = {}
            if folder is not None:
                for p in sorted(folder.iterdir()):
                    if p.is_file():
                        files.setdefault(_nfc(p.name).lower(), p)
            self._files[pid] = files
        return self._files[pid]

    def find(self, pid: str, sequence: str, roi: bool = False) -> Path | None:
        """The volume (or mask) file: ``<seq>.nii.gz`` or ``<seq>.nii`` (any case), or None."""
        stem = f"{sequence}_roi" if roi else sequence
        files = self._listing(pid)
        for ext in (".nii.gz", ".nii"):
            p = files.get(f"{stem}{ext}".lower())
            if p is not None:
                return p
        return None

    def relpath(self, pid: str, sequence: str, roi: bool = False) -> str:
        """Path for messages: the file found, else the contract's name."""
        p = self.find(pid, sequence, roi)
        if p is None:
            return schema.roi_relpath(pid, sequence) if roi else schema.image_relpath(pid, sequence)
        return _nfc(p.relative_to(self.root).as_posix())


class MaskProblem(ValueError):
    """A mask that cannot be read as a binary tumour mask (message says why and how to fix)."""


def _show(values: np.ndarray) -> str:
    return ", ".join(f"{v:g}" for v in values[:5]) + (", ..." if values.size > 5 else "")


def mask_to_binary(data: np.ndarray, roi_label: int | None = None) -> tuple[np.ndarray, str | None]:
    """A mask as uint8 0/1 by the rules of the module docstring.

    Parameters
    ----------
    data : ndarray
        Mask voxels as stored.
    roi_label : int, optional
        The tumour's label in a mask with several labels (ignored for a mask
        with one non-zero value).

    Returns
    -------
    mask : ndarray of uint8, same shape
    note : str or None
        What was done to make it binary, if anything.

    Raises
    ------
    MaskProblem
        NaN/inf voxels, several labels without ``roi_label``, a ``roi_label``
        not present, values that are not near 0/1, or no tumour voxel.

    Examples
    --------
    >>> m, note = mask_to_binary(np.array([0, 255, 255], np.uint8))
    >>> m.tolist(), note
    ([0, 1, 1], 'mask values 0 and 255: 255 read as tumour (1)')
    """
    data = np.asarray(data)
    if data.dtype.kind == "b":
        out, note = data.astype(np.uint8), None
    else:
        if data.dtype.kind == "f" and not np.isfinite(data).all():
            raise MaskProblem("NaN/inf voxels in mask")
        values = np.unique(data)
        if roi_label is not None and np.count_nonzero(values) > 1:
            hit = np.isclose(data, roi_label, rtol=0, atol=1e-6)
            if not hit.any():
                raise MaskProblem(f"no voxel has label {roi_label} (values {_show(values)})")
            out = hit.astype(np.uint8)
            note = None if values.size <= 2 and set(values.tolist()) <= {0, roi_label} else \
                f"label {roi_label} of mask values {_show(values)} read as tumour"
        elif values.size and set(values.tolist()) <= {0, 1}:
            out, note = (data == 1).astype(np.uint8), None
        elif data.dtype.kind == "f" and values.size and np.all(
                (np.abs(values) <= NEAR_BINARY_TOL) | (np.abs(values - 1) <= NEAR_BINARY_TOL)):
            out = (data >= 0.5).astype(np.uint8)
            odd = values[(values != 0) & (values != 1)]
            note = (f"float mask with values near 0/1 (e.g. {odd[0]:.8g}, within {NEAR_BINARY_TOL:g}): "
                    "thresholded at 0.5")
        elif values.size == 2 and values[0] == 0:
            out = (data != 0).astype(np.uint8)
            note = f"mask values 0 and {values[1]:g}: {values[1]:g} read as tumour (1)"
        elif values.size == 1 and values[0] != 0:
            out = np.ones(data.shape, np.uint8)
            note = f"mask value {values[0]:g} everywhere: read as tumour (1)"
        else:
            labels = values[values != 0]
            integral = np.all(values == np.round(values))
            if integral and labels.size > 1:
                raise MaskProblem(f"mask is not binary (values {_show(values)}): several labels; "
                                  "name the tumour's with --roi-label N (roi_label=N)")
            raise MaskProblem(f"mask is not binary (values {_show(values)}): not 0/1 or near it; "
                              "threshold it, or name the tumour's label with --roi-label N")
    if not out.any():
        raise MaskProblem("empty mask (no tumour voxel)")
    return out, note


def _raw_pixdim(path: Path, header_class) -> np.ndarray:
    """Voxel sizes as stored (nibabel's loader silently turns a 0 into 1 mm)."""
    import gzip

    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as f:
        hdr = header_class.from_fileobj(f, check=False)
    return np.asarray(hdr["pixdim"][1:4], dtype=np.float64)


def canonical_grid(shape, affine) -> tuple[tuple[int, ...], np.ndarray]:
    """Shape and affine of a grid once reoriented to RAS (what ``as_closest_canonical`` gives), from the header.

    >>> shape, aff = canonical_grid((4, 5, 6), np.diag([-2.0, 1.0, 3.0, 1.0]))
    >>> shape, aff[0].tolist()
    ((4, 5, 6), [2.0, 0.0, 0.0, -6.0])
    """
    import nibabel.orientations as no

    affine = np.asarray(affine, dtype=float)
    ornt = no.io_orientation(affine)
    new_affine = affine @ no.inv_ornt_aff(ornt, shape)
    new_shape = tuple(int(shape[int(i)]) for i in np.argsort(ornt[:, 0]))
    return new_shape, new_affine


def _header(root, index, pid, seq, roi, problems):
    """Open one file's header; None (with an error) when it is unusable."""
    import nibabel as nib

    rel = index.relpath(pid, seq, roi)
    path = index.find(pid, seq, roi)

    def err(msg, fld):
        problems.append(Problem("error", msg, rel, pid, fld))

    if path is None:
        err("file not found", "file")
        return None, rel
    try:
        img = nib.load(str(path))
        raw_shape = tuple(int(s) for s in img.shape)
        if len(raw_shape) > 3:
            img = nib.squeeze_image(img)
        shape = tuple(int(s) for s in img.shape)
        affine = np.asarray(img.affine, dtype=np.float64)
        pixdim = _raw_pixdim(path, type(img.header))
    except Exception as exc:  # nibabel raises many types for bad files
        err(f"unreadable NIfTI ({_describe(exc)})", "file")
        return None, rel
    if len(shape) != 3:
        err(f"image is not 3D: shape {raw_shape}", "dims")
        return None, rel
    if not np.isfinite(pixdim).all() or np.any(pixdim == 0):
        err(f"zero or non-finite voxel size {tuple(float(p) for p in pixdim)} mm in the header", "spacing")
        return None, rel
    if not np.isfinite(affine).all():
        err("non-finite affine", "affine")
        return None, rel
    if abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        err("singular affine (a zero voxel size or collinear axes)", "affine")
        return None, rel
    return (img, shape, affine, raw_shape, path), rel


def check_patient_images(root: Path, index: ImageIndex, pid: str, sequences, *, full: bool,
                         roi_label: int | None = None) -> tuple[list[Problem], dict[str, int]]:
    """Every problem of one patient's volumes and masks.

    Returns
    -------
    problems : list of Problem
        Errors, warnings and per-file notes, in sequence order.
    tallies : dict
        Counts of cohort-wide notes (``"nii"``: uncompressed files,
        ``"squeezed"``: trailing axes dropped, ``"orient:<codes>"``: volumes
        per orientation other than RAS).
    """
    problems: list[Problem] = []
    tallies: dict[str, int] = {}

    def tally(key):
        tallies[key] = tallies.get(key, 0) + 1

    for seq in sequences:
        got_img, img_rel = _header(root, index, pid, seq, False, problems)
        got_roi, roi_rel = _header(root, index, pid, seq, True, problems)
        for got, rel in ((got_img, img_rel), (got_roi, roi_rel)):
            if got is None:
                continue
            if rel.endswith(".nii"):
                tally("nii")
            if len(got[3]) != 3:
                tally("squeezed")
        if got_img is not None:
            code = orientation(got_img[2])
            if code != "RAS":
                tally(f"orient:{code}")
        if got_img is None or got_roi is None:
            continue
        img, img_shape, img_affine = got_img[:3]
        roi, roi_shape, roi_affine = got_roi[:3]
        same_grid = roi_shape == img_shape and float(np.abs(roi_affine - img_affine).max()) <= AFFINE_ATOL_MM
        if not same_grid:
            # a mask exported in another voxel order than its image is on the same grid once both are canonical
            c_img, c_roi = canonical_grid(img_shape, img_affine), canonical_grid(roi_shape, roi_affine)
            if c_img[0] == c_roi[0] and float(np.abs(c_img[1] - c_roi[1]).max()) <= AFFINE_ATOL_MM:
                problems.append(Problem("note", f"mask in {orientation(roi_affine)} voxel order, its image in "
                                        f"{orientation(img_affine)}: the same grid once both are in RAS",
                                        roi_rel, pid, "affine"))
            elif roi_shape != img_shape:
                problems.append(Problem("error", f"mask shape {roi_shape} differs from image shape {img_shape} "
                                        f"({img_rel})", roi_rel, pid, "shape"))
                continue
            else:
                diff = float(np.abs(roi_affine - img_affine).max())
                problems.append(Problem("error", f"mask affine differs from image affine ({img_rel}) by up to "
                                        f"{diff:.3g} mm (tolerance {AFFINE_ATOL_MM:g})", roi_rel, pid, "affine"))
                continue
        if not full:
            continue
        _check_voxels(img, img_rel, roi, roi_rel, pid, roi_label, problems)
    return problems, tallies


def _voxels(img, rel, pid, problems):
    try:
        return np.asarray(img.dataobj)
    except Exception as exc:  # truncated or corrupt data block
        problems.append(Problem("error", f"unreadable NIfTI voxels ({_describe(exc)})", rel, pid, "voxels"))
        return None


def _check_voxels(img, img_rel, roi, roi_rel, pid, roi_label, problems):
    data = _voxels(img, img_rel, pid, problems)
    if data is not None:
        finite = np.isfinite(data) if data.dtype.kind == "f" else None
        if finite is not None and not finite.all():
            problems.append(Problem("error", f"{int(data.size - finite.sum())} NaN/inf voxels", img_rel, pid, "voxels"))
        elif data.size and data.min() == data.max():
            problems.append(Problem("error", f"constant image (every voxel is {float(data.flat[0]):g})",
                                    img_rel, pid, "voxels"))
    mask = _voxels(roi, roi_rel, pid, problems)
    if mask is None:
        return
    try:
        binary, note = mask_to_binary(mask, roi_label)
    except MaskProblem as exc:
        problems.append(Problem("error", str(exc), roi_rel, pid, "voxels"))
        return
    if note:
        problems.append(Problem("note", note, roi_rel, pid, "voxels"))
    share = float(binary.mean())
    if share > MASK_COVERAGE_WARN:
        problems.append(Problem("warning", f"mask covers {100 * share:.0f}% of the volume (over "
                                f"{100 * MASK_COVERAGE_WARN:.0f}%): is it inverted?", roi_rel, pid, "voxels"))
