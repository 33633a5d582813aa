"""MR image synthesis for the digital twin: head phantom, tumour, T1/T2/T1C, scanners.

Each patient gets three co-registered axial volumes (T1, T2, contrast-enhanced
T1C) of a head-like field of view centred on the nasopharynx, with a tumour
mask per sequence. World coordinates are millimetres: x left-right, y
posterior(-)/anterior(+), z inferior(-)/superior(+), origin near the
nasopharynx.

Anatomy (fixed layout, jittered per patient)
    head outline (subcutaneous fat ring, soft tissue), masticator and
    prevertebral muscles, parapharyngeal fat, mandibular rami, carotid and
    jugular flow voids, the C1 vertebra (cortex + marrow), the spinal canal,
    the nasopharyngeal airway and nasal cavity below the skull-base floor
    ``z_sb``; above it, the skull base (sphenoid/clivus: cortex + fatty marrow)
    with the sphenoid sinus.

Tumour (from the latent phenotype, :func:`tumour_features`)
    an irregular ellipsoid in the posterolateral nasopharynx whose top touches
    the skull-base floor. Radius 12 mm x exp(0.2 z_size); an invasion lobe
    reaching ``7 mm x exp(0.35 z_invasion)`` into the skull-base marrow, and a
    lobulated margin (irregularity 0.08 x exp(0.35 z_invasion)); a smooth
    Gaussian-random-field texture of relative amplitude 0.12 x exp(0.5
    z_heterogeneity); a central necrotic core of radius fraction 0.40 + 0.12
    z_necrosis; an enhancement deficit 0.35 + 0.14 z_enhancement (0: homogeneous
    enhancement; high: a bright rim around a weakly enhancing centre). The core
    and the rim pattern are laid out on each slice's own cross-section, so they
    show on nearly every tumour slice (what a 2D network sees in its
    tumour-centred box), not only on the central ones.

Sequences (relative signal, 1 = fat on T1; :data:`TISSUE_SIGNAL`)
    * T1: fat and marrow bright, tumour slightly darker than muscle: shows the
      tumour outline and its invasion of the bright marrow (size, invasion);
      texture at 0.3x amplitude.
    * T2: tumour bright against muscle, necrosis brighter still (fluid):
      shows the texture (heterogeneity) and the necrotic core.
    * T1C (fat-saturated): the tumour enhances (bright against muscle, dark
      fat and marrow) with the enhancement-deficit pattern; the necrotic core
      enhances less; texture at 0.4x.

Scanners (:data:`SCANNERS`; field of view about 112 x 112 x 60 mm)
    ====  ===============  ==========  ===========  ============  =====
    name  spacing (mm)     matrix      int16 scale  noise (rel.)  share
    ====  ===============  ==========  ===========  ============  =====
    A     1.0 x 1.0 x 4    112x112x15  1000         0.022         45%
    B     1.25 x 1.25 x 5  90x90x12    2800         0.018         35%
    C     0.8 x 0.8 x 6    140x140x10  300          0.030         20%
    ====  ===============  ==========  ===========  ============  =====

    Voxel spacing, matrix and int16 intensity scale (several-fold apart)
    differ; each image also has its own gain (log-normal, SD 0.2), a smooth
    multiplicative bias field and Rician noise.
    Each sequence also has a small rigid in-plane shift (patient motion) and
    its own contour tolerance, so the three masks differ slightly. The second
    centre's scanners (D: 3 T, thin slices; E: 1.5 T, thick slices), with
    their own tissue contrast (:attr:`ScannerProfile.contrast`), are
    :data:`npc_lib.twin.centres.EXTERNAL_SCANNERS`.
"""

from __future__ import annotations

__all__ = [
    "ScannerProfile",
    "SCANNERS",
    "TISSUE_SIGNAL",
    "TumourFeatures",
    "SyntheticImage",
    "tumour_features",
    "synthesize_patient",
    "world_grid",
    "write_patient_images",
    "write_patient_task",
    "HEAD_CENTRE_MM",
    "HEAD_SEMI_AXES_MM",
]

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
from scipy import ndimage

from npc_lib.cohort import schema


@dataclass(frozen=True)
class ScannerProfile:
    """Acquisition geometry and intensity behaviour of one scanner.

    Attributes
    ----------
    spacing : tuple of float
        Voxel size (dx, dy, dz) in mm.
    shape : tuple of int
        Matrix (nx, ny, nz).
    scale : float
        int16 units of relative signal 1 (fat on T1).
    noise : float
        Rician noise standard deviation, relative to signal 1.
    bias : float
        Standard deviation of the bias-field coefficients (log scale).
    contrast : tuple of float
        Per sequence (T1, T2, T1C), the exponent ``g`` applied to every
        tissue's relative signal (:data:`TISSUE_SIGNAL`, ``s -> s ** g``):
        1 keeps the development scanners' contrast; > 1 darkens mid-grey
        tissues against fat and fluid (more contrast at the bright end).
    """

    spacing: tuple[float, float, float]
    shape: tuple[int, int, int]
    scale: float
    noise: float
    bias: float
    contrast: tuple[float, float, float] = (1.0, 1.0, 1.0)


#: the three scanners of the twin (field of view about 112 x 112 x 60 mm)
SCANNERS: dict[str, ScannerProfile] = {
    "A": ScannerProfile((1.0, 1.0, 4.0), (112, 112, 15), 1000.0, 0.022, 0.08),
    "B": ScannerProfile((1.25, 1.25, 5.0), (90, 90, 12), 2800.0, 0.018, 0.12),
    "C": ScannerProfile((0.8, 0.8, 6.0), (140, 140, 10), 300.0, 0.030, 0.16),
}

#: relative signal of each tissue on (T1, T2, T1C)
TISSUE_SIGNAL: dict[str, tuple[float, float, float]] = {
    "air": (0.0, 0.0, 0.0),
    "fat": (1.00, 0.80, 0.20),
    "soft": (0.55, 0.45, 0.55),
    "muscle": (0.42, 0.28, 0.45),
    "cortex": (0.04, 0.04, 0.04),
    "marrow": (0.85, 0.55, 0.30),
    "csf": (0.15, 1.00, 0.15),
    "vessel": (0.05, 0.05, 0.05),
    "tumour": (0.35, 0.62, 0.95),
    "necrosis": (0.25, 0.98, 0.22),
}
#: overall signal factor of each sequence
#: centre (x, y) and semi-axes (left-right, antero-posterior) of the head outline, mm
#: (before the per-patient jitter of +-5% scale and ~1.5 mm antero-posterior shift)
HEAD_CENTRE_MM = (0.0, 8.0)
HEAD_SEMI_AXES_MM = (54.0, 72.0)
_SEQUENCE_GAIN = {"T1": 1.0, "T2": 1.6, "T1C": 1.2}
#: texture amplitude of each sequence relative to T2's
_TEXTURE_SHARE = {"T1": 0.3, "T2": 1.0, "T1C": 0.4}
_FOV_Z_CENTRE = -8.0  # mm
_TEXTURE_SIGMA_MM = 1.6
_GZIP_LEVEL = 1  # fast; higher levels save only ~2% of the size of noisy images


@dataclass(frozen=True)
class TumourFeatures:
    """Visible tumour features derived from the latent phenotype (arrays broadcast).

    Attributes
    ----------
    radius_mm : in-plane radius (left-right semi-axis).
    half_height_mm : cranio-caudal semi-axis.
    invasion_mm : how far the tumour reaches above the skull-base floor.
    irregularity : relative amplitude of the lobulated margin.
    texture : relative amplitude of the internal texture on T2.
    necrosis_fraction : radius of the necrotic core relative to the tumour's.
    enhancement_deficit : relative loss of enhancement at the tumour centre on T1C.
    """

    radius_mm: np.ndarray
    half_height_mm: np.ndarray
    invasion_mm: np.ndarray
    irregularity: np.ndarray
    texture: np.ndarray
    necrosis_fraction: np.ndarray
    enhancement_deficit: np.ndarray


@dataclass(frozen=True)
class SyntheticImage:
    """One sequence of one patient: image, tumour mask and voxel-to-world affine.

    ``image`` is int16 of shape (nx, ny, nz); ``mask`` uint8 0/1 of the same
    shape; ``affine`` the 4 x 4 voxel-to-world (mm) matrix.
    """

    image: np.ndarray
    mask: np.ndarray
    affine: np.ndarray


def _check_scanner(scanner: str) -> ScannerProfile:
    from npc_lib.twin.centres import EXTERNAL_SCANNERS  # the second centre's scanners

    known = {**SCANNERS, **EXTERNAL_SCANNERS}
    if scanner not in known:
        raise ValueError(f"scanner must be one of {tuple(known)}, got {scanner!r}")
    return known[scanner]


def _tissue_signal(prof: ScannerProfile) -> Mapping[str, tuple[float, float, float]]:
    """:data:`TISSUE_SIGNAL` under the scanner's contrast exponents (itself when they are all 1)."""
    if all(g == 1.0 for g in prof.contrast):
        return TISSUE_SIGNAL
    return {t: tuple(float(v) ** g for v, g in zip(sig, prof.contrast)) for t, sig in TISSUE_SIGNAL.items()}


def _check_latent(latent: Mapping[str, float]) -> dict[str, float]:
    names = ("z_size", "z_invasion", "z_heterogeneity", "z_necrosis", "z_enhancement")
    out = {}
    for name in names:
        if name not in latent:
            raise ValueError(f"latent is missing {name!r}")
        value = float(latent[name])
        if not np.isfinite(value):
            raise ValueError(f"latent {name} must be finite, got {value}")
        out[name] = value
    return out


def tumour_features(z_size, z_invasion, z_heterogeneity, z_necrosis, z_enhancement) -> TumourFeatures:
    """Map latent phenotype values (standard normal) to visible tumour features.

    Every feature is a smooth increasing function of its latent, clipped only
    far in the tails (|z| > ~3), so the image risk is a monotone function of
    what the images show.

    Examples
    --------
    >>> f = tumour_features(0.0, 0.0, 0.0, 0.0, 0.0)
    >>> float(f.radius_mm), float(f.invasion_mm), float(f.necrosis_fraction)
    (12.0, 7.0, 0.4)
    >>> bool(tumour_features(1.0, 0, 0, 0, 0).radius_mm > f.radius_mm)
    True
    """
    z_size, z_invasion, z_heterogeneity, z_necrosis, z_enhancement = (
        np.asarray(v, dtype=float) for v in (z_size, z_invasion, z_heterogeneity, z_necrosis, z_enhancement)
    )
    radius = np.clip(12.0 * np.exp(0.2 * z_size), 6.0, 22.0)
    return TumourFeatures(
        radius_mm=radius,
        half_height_mm=radius,
        invasion_mm=np.clip(7.0 * np.exp(0.35 * z_invasion), 1.5, 18.0),
        irregularity=np.clip(0.08 * np.exp(0.35 * z_invasion), 0.02, 0.3),
        texture=np.clip(0.12 * np.exp(0.5 * z_heterogeneity), 0.02, 0.6),
        necrosis_fraction=np.clip(0.40 + 0.12 * z_necrosis, 0.0, 0.8),
        enhancement_deficit=np.clip(0.35 + 0.14 * z_enhancement, 0.0, 0.85),
    )


def world_grid(scanner: str, z_offset: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Voxel-centre world coordinates (mm) of a scanner's grid and its affine.

    Returns
    -------
    x, y, z : ndarray, shapes (nx,), (ny,), (nz,)
    affine : ndarray, shape (4, 4)

    Examples
    --------
    >>> x, y, z, affine = world_grid("A")
    >>> x.shape, z.shape, float(affine[2, 2])
    ((112,), (15,), 4.0)
    """
    prof = _check_scanner(scanner)
    centre = np.array([0.0, -4.0, _FOV_Z_CENTRE + z_offset])
    axes = [c + (np.arange(n) - (n - 1) / 2.0) * d for c, n, d in zip(centre, prof.shape, prof.spacing)]
    affine = np.diag([*prof.spacing, 1.0])
    affine[:3, 3] = [a[0] for a in axes]
    return axes[0], axes[1], axes[2], affine


# --------------------------------------------------------------------------- anatomy


def _ellipse(x, y, cx, cy, a, b, pv):
    """Soft membership (partial volume over ~pv mm) of an ellipse on a 2D grid."""
    q = np.sqrt(((x - cx) / a) ** 2 + ((y - cy) / b) ** 2)
    return np.clip(0.5 - (q - 1.0) * min(a, b) / pv, 0.0, 1.0)


def _ramp(z, z0, width):
    """0 below ``z0``, 1 above, linear over ``width`` mm."""
    return np.clip(0.5 + (z - z0) / width, 0.0, 1.0)


def _anatomy_layers(x, y, jit, pv, q, tissue_signal=TISSUE_SIGNAL):
    """2D signal maps of sequence ``q`` below the skull base, above it, and at the sinus."""
    x2, y2 = x[:, None], y[None, :]
    s = jit["scale"]

    def E(cx, cy, a, b):
        return _ellipse(x2, y2, cx * s, cy * s + jit["dy"], a * s, b * s, pv)

    def paint(img, m, tissue):
        return img + (tissue_signal[tissue][q] - img) * m

    img = np.zeros((x.size, y.size))
    (hx, hy), (ha, hb) = HEAD_CENTRE_MM, HEAD_SEMI_AXES_MM
    img = paint(img, E(hx, hy, ha, hb), "fat")  # subcutaneous fat ring
    img = paint(img, E(hx, hy, ha - 6, hb - 6), "soft")
    lower = img
    for side in (-1, 1):
        lower = paint(lower, E(side * 29, 8, 10, 16), "muscle")  # masticator
        lower = paint(lower, E(side * 19, 0, 5, 11), "fat")  # parapharyngeal
        lower = paint(lower, E(side * 42, 14, 4, 14), "cortex")  # mandibular ramus
        lower = paint(lower, E(side * 9, -15, 7, 5), "muscle")  # prevertebral
        lower = paint(lower, E(side * 24, -16, 3.5, 3.5), "vessel")  # carotid
        lower = paint(lower, E(side * 30, -22, 4, 4), "vessel")  # jugular
    lower = paint(lower, E(0, -30, 13, 10), "cortex")  # C1
    lower = paint(lower, E(0, -30, 10.5, 7.5), "marrow")
    lower = paint(lower, E(0, -46, 8, 7), "csf")  # spinal canal
    lower = paint(lower, E(0, 9, 12, 6), "air")  # nasopharyngeal airway
    lower = paint(lower, E(0, 30, 9, 22), "air")  # nasal cavity
    upper = paint(img, E(0, -4, 34, 30), "cortex")  # skull base
    upper = paint(upper, E(0, -4, 31.5, 27.5), "marrow")
    sinus = paint(upper, E(0, 18, 10, 8), "cortex")
    sinus = paint(sinus, E(0, 18, 8.5, 6.5), "air")  # sphenoid sinus
    return lower, upper, sinus


# --------------------------------------------------------------------------- tumour


def _tumour_rho(X, Y, Z, geo, irr_phase):
    """Normalised coordinates of the (irregular) tumour.

    Returns ``rho`` (3D, < 1 inside the tumour), ``in_slice`` (in-plane
    position relative to the body's cross-section on that slice: 0 at its
    centre, 1 at its edge, so necrosis and the enhancement pattern show on
    every slice, not only the central ones), ``lobe`` (3D coordinate of the
    invasion lobe) and ``taper`` (1 in the body's middle, 0 beyond its tips).
    """
    dx, dy, dz = X - geo["cx"], Y - geo["cy"], Z - geo["cz"]
    theta = np.arctan2(dy, dx)
    zeta = dz / geo["c"]
    k = np.arange(2, 6)
    w = k**-0.5 / np.sqrt(np.sum(k**-1.0))
    mod = sum(
        wk * np.cos(kk * theta + ph + tw * zeta) for kk, wk, ph, tw in zip(k, w, *irr_phase)
    )
    radial = 1.0 + geo["irr"] * mod
    body = np.sqrt((dx / geo["a"]) ** 2 + (dy / geo["b"]) ** 2 + zeta**2) / radial
    lobe = (
        np.sqrt(
            ((X - geo["lx"]) / geo["la"]) ** 2
            + ((Y - geo["ly"]) / geo["lb"]) ** 2
            + ((Z - geo["lz"]) / geo["lc"]) ** 2
        )
        / radial
    )
    soft = 0.08  # smooth union of body and invasion lobe
    union = -soft * np.logaddexp(-body / soft, -lobe / soft)
    half_width = np.sqrt(np.maximum(1.0 - zeta**2, 0.04))
    in_slice = np.sqrt((dx / geo["a"]) ** 2 + (dy / geo["b"]) ** 2) / (radial * half_width)
    taper = np.clip((0.9 - np.abs(zeta)) / 0.25, 0.0, 1.0)
    return union, in_slice, lobe, taper


def _texture(rng, shape, spacing):
    """A zero-mean, unit-sd Gaussian random field smoothed over ~1.6 mm."""
    field = rng.standard_normal(shape)
    sigma = [max(_TEXTURE_SIGMA_MM / d, 0.3) for d in spacing]
    field = ndimage.gaussian_filter(field, sigma, mode="reflect")
    sd = field.std()
    return (field - field.mean()) / (sd if sd > 0 else 1.0)


# --------------------------------------------------------------------------- patient


def synthesize_patient(latent: Mapping[str, float], scanner: str, seed) -> dict[str, SyntheticImage]:
    """Synthesise one patient's T1, T2 and T1C volumes with tumour masks.

    Parameters
    ----------
    latent : mapping
        ``z_size, z_invasion, z_heterogeneity, z_necrosis, z_enhancement``
        (standard-normal latent phenotype, see :mod:`npc_lib.twin.simulate`).
    scanner : str
        A key of :data:`SCANNERS` or of the second centre's
        :data:`npc_lib.twin.centres.EXTERNAL_SCANNERS`.
    seed : int, numpy.random.SeedSequence or numpy.random.Generator
        Source of the nuisance randomness (anatomy jitter, texture, noise).

    Returns
    -------
    dict
        Sequence name (``"T1"``, ``"T2"``, ``"T1C"``) -> :class:`SyntheticImage`
        (int16 image and uint8 mask of shape ``SCANNERS[scanner].shape``,
        affine with the scanner's spacing on the diagonal).

    Examples
    --------
    >>> z = dict(z_size=0, z_invasion=0, z_heterogeneity=0, z_necrosis=0, z_enhancement=0)
    >>> out = synthesize_patient(z, "B", seed=1)
    >>> out["T2"].image.dtype, out["T2"].mask.shape, int(out["T2"].mask.max())
    (dtype('int16'), (90, 90, 12), 1)
    """
    z = _check_latent(latent)
    prof = _check_scanner(scanner)
    tissue = _tissue_signal(prof)
    rng = np.random.default_rng(seed)
    feat = tumour_features(**z)
    r = float(feat.radius_mm)

    # --- patient anatomy and tumour placement (shared by the three sequences)
    z_off = rng.uniform(-0.5, 0.5) * prof.spacing[2]
    x, y, zz, affine = world_grid(scanner, z_off)
    jit = {"scale": rng.uniform(0.95, 1.05), "dy": rng.normal(0.0, 1.5)}
    z_sb = 6.0 + rng.normal(0.0, 1.5)
    side = rng.choice([-1.0, 1.0])
    a, b, c = r, 0.85 * r, float(feat.half_height_mm)
    d = float(feat.invasion_mm)
    geo = {
        "cx": side * rng.uniform(3.0, 7.0),
        "cy": rng.uniform(-3.0, 1.0) + jit["dy"],
        "cz": z_sb + 1.5 - c,
        "a": a, "b": b, "c": c,
        "irr": float(feat.irregularity),
    }
    geo.update(
        lx=geo["cx"] + side * 0.1 * a, ly=geo["cy"] - 3.0, lz=z_sb + (d - 2.0) / 2.0,
        la=0.55 * a + 2.0, lb=0.5 * b + 2.0, lc=(d + 2.0) / 2.0,
    )
    irr_phase = (rng.uniform(0, 2 * np.pi, 4), rng.uniform(-1.5, 1.5, 4))
    nec_jitter = rng.normal(0.0, 0.02)

    # tumour bounding box (voxel index ranges)
    ext = 1.0 + geo["irr"] + 0.05
    lo = [geo["cx"] - a * ext - 2, geo["cy"] - b * ext - 5, geo["cz"] - c * ext - 2]
    hi = [geo["cx"] + a * ext + 2, geo["cy"] + b * ext + 2, max(geo["cz"] + c, z_sb + d) + 3]
    box = tuple(
        slice(int(np.searchsorted(ax, l_)), int(np.searchsorted(ax, h_)))
        for ax, l_, h_ in zip((x, y, zz), lo, hi)
    )
    bshape = tuple(s.stop - s.start for s in box)
    tex = _texture(rng, bshape, prof.spacing) if min(bshape) > 0 else np.zeros(bshape)

    out: dict[str, SyntheticImage] = {}
    pv = prof.spacing[0]
    w_up = _ramp(zz, z_sb + 0.5, 2.0)
    w_sin = _ramp(zz, z_sb + 6.0, 2.0)
    for q, seq in enumerate(schema.SEQUENCES):
        shift = rng.normal(0.0, 0.6, 2)  # rigid in-plane motion between sequences
        xs, ys = x - shift[0], y - shift[1]
        lower, upper, sinus = _anatomy_layers(xs, ys, jit, pv, q, tissue)
        # smooth multiplicative bias field (separable) and this image's gain
        coef = rng.normal(0.0, prof.bias, 4)
        bx = np.exp(coef[0] * x / 60.0 + coef[2] * (x / 60.0) ** 2)
        by = np.exp(coef[1] * y / 60.0 + coef[2] * (y / 60.0) ** 2)
        gain = prof.scale * _SEQUENCE_GAIN[seq] * np.exp(rng.normal(0.0, 0.2))
        bz = gain * np.exp(coef[3] * (zz - _FOV_Z_CENTRE) / 35.0)
        bias2d = bx[:, None] * by[None, :]
        signal = np.empty(prof.shape, dtype=np.float32)
        for k in range(prof.shape[2]):
            layer = lower * (1.0 - w_up[k]) + upper * (w_up[k] - w_sin[k]) + sinus * w_sin[k]
            signal[:, :, k] = layer * (bias2d * bz[k])

        mask = np.zeros(prof.shape, dtype=np.uint8)
        if min(bshape) > 0:
            X = xs[box[0]][:, None, None]
            Y = ys[box[1]][None, :, None]
            Z = zz[box[2]][None, None, :]
            rho, in_slice, lobe, taper = _tumour_rho(X, Y, Z, geo, irr_phase)
            tol = 1.0 + rng.normal(0.0, 0.02)  # this sequence's contour
            mask[box] = rho < tol
            m_t = np.clip(0.5 - (rho - 1.0) * r / pv, 0.0, 1.0)
            core = in_slice + 0.05 * tex
            core_radius = (feat.necrosis_fraction + nec_jitter) * taper
            m_n = np.clip(0.5 - (core - core_radius) * r / pv, 0.0, 1.0)
            t_sig, n_sig = tissue["tumour"][q], tissue["necrosis"][q]
            if seq == "T1C":
                depth = np.clip((1.0 - np.minimum(in_slice, lobe)) / 0.55, 0.0, 1.0)
                t_sig = t_sig * (1.0 - feat.enhancement_deficit * depth)
                n_sig = n_sig + 0.5 * (t_sig - n_sig) * (1.0 - feat.necrosis_fraction)
            t_sig = t_sig * (1.0 + _TEXTURE_SHARE[seq] * feat.texture * tex)
            tumour = (t_sig + (n_sig - t_sig) * m_n) * bias2d[box[:2]][:, :, None] * bz[box[2]]
            signal[box] += (tumour - signal[box]) * m_t

        # Rician noise (magnitude of a complex signal), then int16
        sd = np.float32(prof.noise * prof.scale * _SEQUENCE_GAIN[seq])
        noise = rng.standard_normal(prof.shape, dtype=np.float32)
        noise *= sd
        signal += noise
        rng.standard_normal(prof.shape, dtype=np.float32, out=noise)
        noise *= sd
        img = np.hypot(signal, noise, out=signal)
        np.rint(img, out=img)
        np.minimum(img, np.iinfo(np.int16).max, out=img)
        out[seq] = SyntheticImage(image=img.astype(np.int16), mask=mask, affine=affine.copy())
    return out


# --------------------------------------------------------------------------- writing


def _nifti_bytes(data: np.ndarray, affine: np.ndarray, description: str) -> bytes:
    """Gzip-compressed NIfTI-1 bytes with no timestamp or file name (deterministic)."""
    import gzip

    import nibabel as nib

    img = nib.Nifti1Image(data, affine)
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    img.header.set_xyzt_units("mm")
    img.header["descrip"] = description.encode()[:79]
    return gzip.compress(img.to_bytes(), compresslevel=_GZIP_LEVEL, mtime=0)


def write_patient_images(root, patient_id: str, latent: Mapping[str, float], scanner: str, seed) -> str:
    """Synthesise one patient and write ``images/<patient_id>/{seq}[_roi].nii.gz`` under ``root``.

    Files are written in place: call it inside a folder that is moved into
    place when complete (:func:`npc_lib._io.atomic_dir`), as
    :func:`npc_lib.twin.simulate.simulate_cohort` does. The gzip streams
    carry no timestamp, so the same inputs give byte-identical files.

    Parameters
    ----------
    root : path-like
        Cohort root.
    patient_id : str
        Patient identifier (folder name).
    latent, scanner, seed
        As in :func:`synthesize_patient`.

    Returns
    -------
    str
        ``patient_id``.
    """
    root = Path(root)
    images = synthesize_patient(latent, scanner, seed)
    (root / schema.IMAGES_DIR / patient_id).mkdir(parents=True, exist_ok=True)
    for seq, item in images.items():
        desc = f"npc digital twin {patient_id} {seq} scanner {scanner}"
        (root / schema.image_relpath(patient_id, seq)).write_bytes(_nifti_bytes(item.image, item.affine, desc))
        (root / schema.roi_relpath(patient_id, seq)).write_bytes(
            _nifti_bytes(item.mask, item.affine, f"{desc} tumour ROI")
        )
    return patient_id


def write_patient_task(task: tuple) -> str:
    """:func:`write_patient_images` on one argument tuple (for process pools)."""
    return write_patient_images(*task)
