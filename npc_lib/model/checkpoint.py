"""Per-epoch training checkpoints: write atomically, resume only a run with the same inputs.

A checkpoint is one folder ``<dir>/last`` replaced whole after every epoch
(:func:`npc_lib._io.atomic_dir`): ``state.json`` (stage, epoch, early-stopping
state, history, and the *fingerprint* of the run's inputs), ``model.npz``
(every model variable, batch-norm statistics and seed-generator states
included), ``optimizer.npz`` (Adam moments and step) and ``best.npz`` (the
best validation epoch's model variables). A checkpoint whose fingerprint
differs (other data, configuration or seed) is ignored.
"""

from __future__ import annotations

__all__ = ["CHECKPOINT_FORMAT", "quiet_numpy_copy_warning", "snapshot_variables", "assign_variables",
           "run_fingerprint", "write_checkpoint", "read_checkpoint", "load_arrays"]

import contextlib
import hashlib
import json
import warnings
from pathlib import Path

import numpy as np

from npc_lib._io import atomic_dir

CHECKPOINT_FORMAT = "npc_lib.training-checkpoint/1"


@contextlib.contextmanager
def quiet_numpy_copy_warning():
    """Silence one known third-party DeprecationWarning (keras calling
    ``np.array(tensor, copy=False)`` when it hands tensors back as NumPy)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"__array__ implementation doesn't accept a copy keyword",
                                category=DeprecationWarning)
        yield


def snapshot_variables(variables) -> list[np.ndarray]:
    """Copies of the values of Keras variables, as NumPy arrays (any backend)."""
    from keras import ops

    with quiet_numpy_copy_warning():
        return [np.array(ops.convert_to_numpy(v.value), copy=True) for v in variables]


def assign_variables(variables, arrays, what: str) -> None:
    """Assign ``arrays`` to ``variables`` in order; a count or shape mismatch raises ValueError.

    ``what`` names the checkpoint part in the message (``"model"``, ``"optimizer"``).
    """
    if len(variables) != len(arrays):
        raise ValueError(f"checkpoint {what}: {len(arrays)} arrays for {len(variables)} variables")
    for v, a in zip(variables, arrays):
        if tuple(v.shape) != tuple(a.shape):
            raise ValueError(f"checkpoint {what}: shape {a.shape} for variable {v.path} of shape {v.shape}")
        v.assign(a)


def _save_arrays(path: Path, arrays: list[np.ndarray]) -> None:
    with open(path, "wb") as fh:
        np.savez(fh, **{f"a{i:04d}": a for i, a in enumerate(arrays)})


def load_arrays(path: Path) -> list[np.ndarray]:
    """Arrays written by :func:`write_checkpoint`, in variable order."""
    with np.load(path, allow_pickle=False) as z:
        return [z[k] for k in sorted(z.files)]


def run_fingerprint(instances, time, event, config, seed: int) -> str:
    """SHA-256 of everything a training run depends on: config, seed, patients, images, outcomes."""
    h = hashlib.sha256()
    h.update(json.dumps({"config": config.to_dict(), "seed": int(seed), "ids": list(instances.patient_ids)},
                        sort_keys=True).encode())
    for a in (np.ascontiguousarray(instances.x), instances.bag, np.asarray(time, float), np.asarray(event, bool)):
        h.update(a.tobytes())
    return h.hexdigest()


def write_checkpoint(directory: Path, state: dict, model, optimizer, best) -> None:
    """Replace ``directory/last`` atomically by the current state.

    Parameters
    ----------
    directory : Path
        Checkpoint folder of the run.
    state : dict
        JSON-serialisable training state (must hold ``format`` and ``fingerprint``).
    model : keras.Model
        Its ``variables`` are saved.
    optimizer : keras optimizer or None
        Its ``variables`` are saved when it is built.
    best : list of arrays or None
        Model variables of the best validation epoch so far.
    """
    with atomic_dir(directory / "last") as tmp:
        _save_arrays(tmp / "model.npz", snapshot_variables(model.variables))
        if optimizer is not None and optimizer.built:
            _save_arrays(tmp / "optimizer.npz", snapshot_variables(optimizer.variables))
        if best is not None:
            _save_arrays(tmp / "best.npz", best)
        (tmp / "state.json").write_text(json.dumps(state, indent=1, sort_keys=True))


def read_checkpoint(directory: Path, fingerprint: str) -> dict | None:
    """The saved state if ``directory/last`` belongs to a run with this ``fingerprint``, else None."""
    state_file = directory / "last" / "state.json"
    if not state_file.is_file():
        return None
    state = json.loads(state_file.read_text())
    if state.get("format") != CHECKPOINT_FORMAT or state.get("fingerprint") != fingerprint:
        return None  # another run's checkpoint: start afresh (it is overwritten after the first epoch)
    return state
