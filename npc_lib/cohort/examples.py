"""Pick example slices of a cohort for display (one patient per scanner)."""

from __future__ import annotations

__all__ = ["ExampleSlice", "example_slices"]

from dataclasses import dataclass

import numpy as np

from .schema import SEQUENCES


@dataclass(frozen=True)
class ExampleSlice:
    """The axial slice with the largest tumour area of one patient and sequence.

    ``image`` and ``roi`` have shape (nx, ny); ``spacing`` is (dx, dy) in mm.
    """

    patient_id: str
    scanner: str
    sequence: str
    slice_index: int
    image: np.ndarray
    roi: np.ndarray
    spacing: tuple[float, float]


def example_slices(cohort, *, per_scanner: int = 1, sequences=SEQUENCES, seed: int = 0) -> list[ExampleSlice]:
    """Largest-tumour axial slices of ``per_scanner`` random patients of each scanner.

    Parameters
    ----------
    cohort : npc_lib.cohort.load.Cohort
        A loaded cohort.
    per_scanner : int
        Patients drawn per scanner (seeded).
    sequences : sequence of str
        MR sequences to show.
    seed : int
        Seed of the draw.
    """
    if per_scanner < 1:
        raise ValueError(f"per_scanner: must be >= 1, got {per_scanner}")
    rng = np.random.default_rng(seed)
    clinical = cohort.clinical
    out: list[ExampleSlice] = []
    for scanner in sorted(clinical["scanner"].astype(str).unique()):
        ids = sorted(clinical.loc[clinical["scanner"].astype(str) == scanner, "patient_id"])
        for pid in rng.choice(ids, size=min(per_scanner, len(ids)), replace=False):
            for seq in sequences:
                img, roi = cohort.read_image(pid, seq), cohort.read_roi(pid, seq)
                k = int(np.argmax(roi.data.reshape(-1, roi.data.shape[2]).sum(axis=0)))
                out.append(
                    ExampleSlice(
                        patient_id=str(pid), scanner=scanner, sequence=seq, slice_index=k,
                        image=img.data[:, :, k], roi=roi.data[:, :, k].astype(bool),
                        spacing=(img.spacing[0], img.spacing[1]),
                    )
                )
    return out
