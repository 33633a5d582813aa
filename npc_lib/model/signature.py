"""Reload a trained DL signature from its files and score bags with it.

A trained signature (:func:`npc_lib.runners.train.run_training`) is, per MR
sequence, a folder holding ``preprocess_<seq>.json`` (the training
configuration, the fitted image preprocessing and each ensemble member's
``seed``/``loc``/``scale``) and one ``model_<seq>_member<k>.weights.h5`` per
member (Keras' own weights format; the network is rebuilt from the
configuration, never unpickled). The run folder's ``04_signatures`` and a
model bundle's ``signatures/`` share this layout, so one loader serves both.

The signature of a patient is the mean over members of ``(risk_k - loc_k) /
scale_k`` (:func:`npc_lib.model.ensemble.ensemble_signature`), ``risk_k`` the
member's pooled slice risk (:func:`npc_lib.model.training.predict_patient_risk`);
higher = worse, centred on the training cohort.
"""

from __future__ import annotations

__all__ = ["SignatureModel", "load_signature_model", "load_signature", "signature_risk", "weights_name",
           "preprocess_name", "read_preprocess"]

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

_SEQUENCES = ("T1", "T2", "T1C")


def _check_sequence(sequence: str) -> str:
    if sequence not in _SEQUENCES:
        raise ValueError(f"sequence must be one of {_SEQUENCES}, got {sequence!r}")
    return sequence


def weights_name(sequence: str, member: int) -> str:
    """File name of one member's weights: ``model_<seq>_member<k>.weights.h5``."""
    return f"model_{_check_sequence(sequence)}_member{int(member)}.weights.h5"


def preprocess_name(sequence: str) -> str:
    """File name of a signature's preprocessing and members: ``preprocess_<seq>.json``."""
    return f"preprocess_{_check_sequence(sequence)}.json"


def read_preprocess(folder, sequence: str) -> dict:
    """The ``preprocess_<seq>.json`` of ``folder`` (``config``, ``instances``, ``members``, ``sequence``)."""
    path = Path(folder) / preprocess_name(sequence)
    if not path.is_file():
        raise ValueError(f"no trained {sequence} signature in {folder} (missing {path.name})")
    doc = json.loads(path.read_text())
    missing = [k for k in ("config", "instances", "members") if k not in doc]
    if missing:
        raise ValueError(f"{path}: field(s) {missing} missing")
    if not doc["members"]:
        raise ValueError(f"{path}: field 'members' is empty")
    return doc


def load_signature_model(folder, sequence: str, member: int = 0):
    """One trained network and its config: ``(model, TrainConfig, preprocess)``.

    ``member`` picks the ensemble member (0: the first; Grad-CAM explains
    one network). ``preprocess`` is the dict in ``preprocess_<seq>.json``
    (the fitted standardiser in ``preprocess["instances"]["standardizer"]``,
    each member's ``seed``, ``loc`` and ``scale`` in ``preprocess["members"]``).
    """
    from npc_lib.model.checkpoint import quiet_numpy_copy_warning
    from npc_lib.model.seresnext import build_se_resnext
    from npc_lib.model.train_config import TrainConfig

    sequence = _check_sequence(sequence)
    folder = Path(folder)
    preprocess = read_preprocess(folder, sequence)
    n = len(preprocess["members"])
    if not (0 <= int(member) < n):
        raise ValueError(f"member must lie in 0..{n - 1} (the {sequence} ensemble has {n}), got {member!r}")
    config = TrainConfig.from_dict(preprocess["config"])
    model = build_se_resnext(config.network, name="signature")
    with quiet_numpy_copy_warning():
        model.load_weights(folder / weights_name(sequence, int(member)))
    return model, config, preprocess


@dataclass(frozen=True, eq=False)
class SignatureModel:
    """Every member of one sequence's signature, loaded once.

    Attributes
    ----------
    sequence : str
    models : list of keras.Model
        One network per ensemble member.
    config : TrainConfig
        The training configuration (pooling, test-time flip, batch size).
    preprocess : dict
        ``preprocess_<seq>.json``.
    """

    sequence: str
    models: list
    config: object
    preprocess: dict

    @property
    def members(self) -> list[dict]:
        """Each member's ``seed``, ``loc`` and ``scale`` (standardisation on the training patients)."""
        return list(self.preprocess["members"])

    def risk(self, instances) -> pd.Series:
        """The signature of every bag in ``instances`` (Series by ``patient_id``, named ``risk``).

        Each patient's value depends only on that patient's bag.
        """
        from npc_lib.model.ensemble import ensemble_signature
        from npc_lib.model.training import predict_patient_risk

        if instances.sequence != self.sequence:
            raise ValueError(f"instances: sequence {instances.sequence!r}, the signature is {self.sequence!r}")
        # a few patients (one batch): run the networks eagerly; tracing a graph per network costs more
        # than it saves (seconds each); larger sets use the compiled predict step
        eager = len(instances) <= self.config.predict_batch
        for m in self.models:
            if m.run_eagerly != eager:
                m.run_eagerly = eager
                m.predict_function = None  # rebuilt on the next predict, eager or compiled
        risks = [predict_patient_risk(m, instances, self.config) for m in self.models]
        return ensemble_signature(risks, self.members)


def load_signature(folder, sequence: str) -> SignatureModel:
    """All members of the ``sequence`` signature saved in ``folder`` (:class:`SignatureModel`)."""
    model, config, preprocess = load_signature_model(folder, sequence, 0)
    models = [model] + [load_signature_model(folder, sequence, k)[0] for k in range(1, len(preprocess["members"]))]
    return SignatureModel(sequence=sequence, models=models, config=config, preprocess=preprocess)


def signature_risk(folder, sequence: str, instances) -> pd.Series:
    """The signature saved in ``folder`` for the bags in ``instances`` (a Series by ``patient_id``).

    Every member scores the bags; their risks are standardised with the
    training cohort's ``loc``/``scale`` and averaged, so this reproduces
    ``signature_<seq>.csv`` for the trained cohort's patients and scores new
    ones on the same scale.
    """
    return load_signature(folder, sequence).risk(instances)
