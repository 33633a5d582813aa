"""Grad-CAM attention maps of a trained signature for chosen patients (A19).

Ties a trained signature (``npc train`` output folder), the cohort's images and
the network: each chosen patient's tumour boxes are rebuilt with the saved
preprocessing (the standardiser fitted on the training cohort) and explained
with Grad-CAM on the last convolutional stage.
"""

from __future__ import annotations

__all__ = ["AttentionMap", "attention_maps"]

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class AttentionMap:
    """One instance (slice box) of a patient with its Grad-CAM map.

    ``image`` and ``cam`` have shape (H, W); ``cam`` is in [0, 1], 1 marking the
    region that most raises the predicted risk. ``risk`` is the instance risk.
    """

    patient_id: str
    slice_index: int
    image: np.ndarray
    cam: np.ndarray
    risk: float


def attention_maps(cohort, signature_dir: str | Path, sequence: str, patient_ids: Sequence[str], *,
                   per_patient: int = 1) -> list[AttentionMap]:
    """Grad-CAM maps for ``patient_ids`` from the signature trained in ``signature_dir``.

    Parameters
    ----------
    cohort : Cohort
        The loaded cohort the signature was trained on.
    signature_dir : path-like
        Output folder of :func:`npc_lib.runners.train.run_training`; an
        ensemble signature is explained by its first member's network.
    sequence : {"T1", "T2", "T1C"}
    patient_ids : sequence of str
        Patients to explain.
    per_patient : int
        Instances shown per patient: those with the highest instance risk.
    """
    from npc_lib.imaging.instances import build_instances
    from npc_lib.imaging.standardize import HistogramStandardizer
    from npc_lib.model.gradcam import grad_cam
    from npc_lib.model.training import predict_instance_risk
    from npc_lib.runners.train import load_signature_model

    if per_patient < 1:
        raise ValueError(f"per_patient: must be >= 1, got {per_patient}")
    model, _, preprocess = load_signature_model(signature_dir, sequence)
    meta = preprocess["instances"]
    std = HistogramStandardizer.from_dict(meta["standardizer"])
    inst = build_instances(cohort, sequence, list(patient_ids), std, target_spacing=tuple(meta["target_spacing"]),
                           box_mm=tuple(meta["box_mm"]), box_px=tuple(meta["box_px"]),
                           centre=meta["centre"], min_area=meta["min_area"])
    risk = predict_instance_risk(model, inst.x)
    out: list[AttentionMap] = []
    for b, pid in enumerate(inst.patient_ids):
        idx = np.flatnonzero(inst.bag == b)
        top = idx[np.argsort(-risk[idx], kind="stable")[:per_patient]]
        cams = grad_cam(model, inst.x[top])
        for k, i in enumerate(top):
            out.append(AttentionMap(patient_id=pid, slice_index=int(inst.slice_index[i]),
                                    image=inst.x[i, :, :, 0], cam=cams[k], risk=float(risk[i])))
    return out
