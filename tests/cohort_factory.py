"""A tiny, valid cohort in the SPEC layout, for tests.

``make_tiny_cohort`` writes ``clinical.csv``, ``truth.csv`` and, per patient,
three int16 MR volumes with binary tumour masks (an ellipsoidal blob), all
deterministic in ``seed``. Tests that need a broken cohort build a valid one and
then damage exactly one thing.
"""

from __future__ import annotations

__all__ = ["make_tiny_cohort", "tiny_clinical"]

from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from npc_lib.cohort import schema


def tiny_clinical(n: int = 8, seed: int = 0) -> pd.DataFrame:
    """Plausible clinical rows for ``n`` patients (all ``schema.CLINICAL_COLUMNS``).

    Every categorical column shows both levels once ``n >= 4`` and each
    endpoint has at least one event and one censored patient once ``n >= 2``;
    the endpoints agree with each other (see :func:`_survival`).
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    rng = np.random.default_rng(seed)
    ids = [f"NPC{i:04d}" for i in range(1, n + 1)]
    df = pd.DataFrame({"patient_id": ids})
    df["age"] = np.clip(rng.normal(45.0, 10.0, n), 18, 80).round(0)
    # alternate levels so both appear even in a tiny cohort
    alt = np.arange(n) % 2
    df["sex"] = np.where(alt == 0, "M", "F")
    df["hgb"] = np.clip(rng.normal(140.0, 15.0, n), 80, 190).round(0)
    df["family_history"] = np.where(np.arange(n) % 4 == 1, "yes", "no")
    df["smoking"] = np.where(np.arange(n) % 3 == 0, "yes", "no")
    df["drinking"] = np.where(np.arange(n) % 4 == 2, "yes", "no")
    df["who_type"] = np.where(np.arange(n) % 4 == 3, "I-II", "III")
    df["alb"] = np.clip(rng.normal(44.0, 3.5, n), 25, 60).round(1)
    df["crp"] = np.round(rng.lognormal(0.3, 1.0, n), 2)
    df["ldh"] = np.round(rng.lognormal(np.log(180.0), 0.25, n), 0)
    df["ebv_dna"] = np.round(rng.lognormal(np.log(3000.0), 2.0, n), 0)
    df["scanner"] = [f"S{1 + i % 3}" for i in range(n)]
    df = df.join(_survival(rng, n))
    return df[list(schema.CLINICAL_COLUMNS)]


def _survival(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Endpoints that agree with each other (the loader's survival logic).

    Last follow-up ``os_time``; a locoregional relapse, a distant metastasis
    and a death each happen with probability 0.3 at or before it; DFS is the
    first of them. Patient 0 has no event and patient 1 all three (n >= 2).
    """
    follow_up = np.round(rng.uniform(24.0, 90.0, n), 2)
    happened = rng.uniform(size=(n, 3)) < 0.3
    when = np.round(follow_up[:, None] * rng.uniform(0.1, 1.0, (n, 3)), 2)
    if n >= 2:
        happened[0], happened[1] = False, True
    when[:, 2] = follow_up  # a death ends the follow-up
    times = np.where(happened, when, follow_up[:, None])
    first = np.where(happened, when, np.inf).min(axis=1)
    out = pd.DataFrame(index=range(n))
    out["dfs_time"] = np.where(np.isfinite(first), first, follow_up)
    out["dfs_event"] = happened.any(axis=1).astype(int)
    out["os_time"], out["os_event"] = follow_up, happened[:, 2].astype(int)
    out["dmfs_time"], out["dmfs_event"] = times[:, 1], happened[:, 1].astype(int)
    out["lrfs_time"], out["lrfs_event"] = times[:, 0], happened[:, 0].astype(int)
    return out


def _blob(shape: tuple[int, int, int], rng: np.random.Generator) -> np.ndarray:
    """A binary ellipsoid near the centre of ``shape`` (uint8, never empty)."""
    centre = np.array(shape) / 2.0 + rng.uniform(-1.0, 1.0, 3)
    radii = np.maximum(np.array(shape) * rng.uniform(0.18, 0.28, 3), 1.0)
    grid = np.indices(shape, dtype=float)
    d2 = sum(((grid[i] + 0.5 - centre[i]) / radii[i]) ** 2 for i in range(3))
    mask = (d2 <= 1.0).astype(np.uint8)
    if not mask.any():
        mask[tuple(int(c) for c in centre)] = 1
    return mask


def make_tiny_cohort(
    root: str | Path,
    n: int = 8,
    shape: tuple[int, int, int] = (24, 24, 6),
    seed: int = 0,
    spacing: tuple[float, float, float] = (1.0, 1.0, 4.0),
) -> Path:
    """Write a valid ``n``-patient cohort under ``root`` and return ``root``.

    Parameters
    ----------
    root : path-like
        Cohort directory (created; existing files with the same names are
        overwritten).
    n : int
        Number of patients (ids ``NPC0001`` ...).
    shape : tuple of int
        Voxel grid (nx, ny, nz) of every volume.
    seed : int
        Seed of all random values.
    spacing : tuple of float
        Voxel size (dx, dy, dz) in mm; the affine is ``diag(spacing, 1)``.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    clinical = tiny_clinical(n, seed)
    clinical.to_csv(root / schema.CLINICAL_FILE, index=False)

    affine = np.diag([*map(float, spacing), 1.0])
    for pid in clinical["patient_id"]:
        mask = _blob(shape, rng)
        for seq in schema.SEQUENCES:
            image = rng.normal(300.0, 40.0, shape) + 400.0 * mask
            image = np.clip(image, 0, 4000).astype(np.int16)
            for rel, arr in ((schema.image_relpath(pid, seq), image), (schema.roi_relpath(pid, seq), mask)):
                path = root / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                img = nib.Nifti1Image(arr, affine)
                img.header.set_xyzt_units("mm", "sec")
                nib.save(img, str(path))

    lp = {c: np.round(rng.normal(0.0, 0.5, n), 4) for c in ("lp_clinical", "lp_T1", "lp_T2", "lp_T1C")}
    truth = pd.DataFrame({"patient_id": clinical["patient_id"], "lp_clinical": lp["lp_clinical"]})
    truth["lp_image"] = lp["lp_T1"] + lp["lp_T2"] + lp["lp_T1C"]
    for seq in schema.SEQUENCES:
        truth[f"lp_{seq}"] = lp[f"lp_{seq}"]
    truth["lp_total"] = truth["lp_clinical"] + truth["lp_image"]
    truth[list(schema.TRUTH_COLUMNS)].to_csv(root / schema.TRUTH_FILE, index=False)
    return root


def survival_frame(n=200, seed=0, follow_up=80.0):
    """Exponential survival with two prognostic covariates ``a``, ``b`` (true ``lp``), one ``noise``."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    lp = 0.8 * x[:, 0] + 0.4 * x[:, 1]
    t_event = rng.exponential(60.0 * np.exp(-lp))
    t_cens = rng.uniform(20.0, follow_up, n)
    df = pd.DataFrame(x, columns=["a", "b", "noise"])
    df["time"] = np.minimum(t_event, t_cens).round(2)
    df["event"] = (t_event <= t_cens).astype(int)
    df["lp"] = lp
    return df
