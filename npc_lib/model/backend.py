"""Choose and report the Keras 3 backend (and the grouped-conv formulation).

Keras reads ``KERAS_BACKEND`` once, when it is first imported; after that the
backend cannot change within the process. :func:`configure_backend` therefore
must run before anything imports ``keras`` (this module never imports it).

The defaults come from ``benchmarks/bench_train.py`` on the project's 2-core
CPU machine (training instances per second of the default SE-ResNeXt):
see :data:`MEASURED_SPEED`.
"""

from __future__ import annotations

__all__ = [
    "BACKENDS",
    "DEFAULT_BACKEND",
    "MEASURED_SPEED",
    "BackendAlreadySetWarning",
    "available_backends",
    "best_formulation",
    "configure_backend",
    "current_backend",
    "default_threads",
    "thread_env",
    "THREAD_VARS",
]

import importlib.util
import json
import os
import sys
import warnings
from pathlib import Path

#: backends this project supports, fastest first on the reference CPU machine
BACKENDS: tuple[str, ...] = ("tensorflow", "torch", "jax")
#: what :func:`configure_backend` picks when nothing is asked for (the fastest measured)
DEFAULT_BACKEND = BACKENDS[0]

#: training instances/s (batch 32, Cox loss, Adam) of ``SEResNeXtConfig.cpu_default()``
#: measured by ``benchmarks/bench_train.py`` on the reference machine (2 cores shared
#: with other jobs, load average 6-8), medians of 2 runs, all cores, OMP_WAIT_POLICY=PASSIVE.
#: TensorFlow's native grouped convolution has no fast CPU kernel; torch's has.
MEASURED_SPEED: dict[str, dict[str, float]] = {
    "tensorflow": {"native": 2.9, "split": 109.0, "masked": 106.0, "depthwise": 94.0},
    "torch": {"native": 57.0, "masked": 55.0},
}

#: fastest formulation per backend (used by ``formulation="auto"``); jax: unmeasured
_BEST_FORMULATION: dict[str, str] = {"tensorflow": "split", "torch": "native", "jax": "native"}
_PACKAGE = {"torch": "torch", "tensorflow": "tensorflow", "jax": "jax"}
#: OpenMP threads sleep instead of spinning while idle: torch on a shared CPU was 2-5x
#: faster with it (no effect on TensorFlow, whose CPU kernels use their own thread pool)
_OMP_WAIT_POLICY = "PASSIVE"


class BackendAlreadySetWarning(RuntimeWarning):
    """Keras was imported already with a backend other than the one asked for."""


def _check_backend(name: str) -> str:
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}")
    return name


def available_backends() -> list[str]:
    """Supported backends whose package is installed (fastest first; imports nothing)."""
    return [b for b in BACKENDS if importlib.util.find_spec(_PACKAGE[b]) is not None]


def best_formulation(backend: str) -> str:
    """Fastest measured grouped-conv formulation for ``backend``.

    Examples
    --------
    >>> best_formulation("tensorflow")
    'split'
    >>> best_formulation("torch")
    'native'
    """
    return _BEST_FORMULATION[_check_backend(backend)]


def _keras_json_backend() -> str | None:
    home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    try:
        return json.loads((home / "keras.json").read_text()).get("backend")
    except (OSError, ValueError, AttributeError):
        return None


#: environment variables that fix the threads of OpenMP, the BLAS libraries and TensorFlow
THREAD_VARS: tuple[str, ...] = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                                "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


def thread_env(threads: int) -> dict[str, str]:
    """Environment variables pinning OpenMP, BLAS and TensorFlow to ``threads`` threads.

    They take effect in a process that sets them before the libraries start
    (a worker process, a notebook kernel); TensorFlow reads them once.

    Examples
    --------
    >>> thread_env(1)["TF_NUM_INTRAOP_THREADS"]
    '1'
    """
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive whole number, got {threads!r}")
    return {v: str(threads) for v in THREAD_VARS}


def default_threads() -> int:
    """Intra-op threads the benchmark calls "default": all cores."""
    return os.cpu_count() or 1


def current_backend() -> str:
    """The backend Keras runs on (or will run on when imported now).

    If ``keras`` is imported, ``keras.backend.backend()``; otherwise what Keras
    would pick: ``KERAS_BACKEND``, else ``~/.keras/keras.json``, else
    ``"tensorflow"`` (Keras' own default). Does not import keras.
    """
    if "keras" in sys.modules:
        return sys.modules["keras"].backend.backend()
    return os.environ.get("KERAS_BACKEND") or _keras_json_backend() or "tensorflow"


def configure_backend(preferred: str | None = None) -> str:
    """Set ``KERAS_BACKEND`` before Keras is imported; return the backend in use.

    Parameters
    ----------
    preferred : str, optional
        ``"tensorflow"``, ``"torch"`` or ``"jax"``. ``None``: keep a
        ``KERAS_BACKEND`` the user already set, else :data:`DEFAULT_BACKEND`
        (the fastest measured), falling back to the next installed one.
        Also sets ``TF_CPP_MIN_LOG_LEVEL=3`` (quiet TensorFlow start-up) and
        ``OMP_WAIT_POLICY=PASSIVE`` unless set (see
        :data:`MEASURED_SPEED`); the grouped-conv formulation follows the
        backend through ``formulation="auto"`` (:func:`best_formulation`).

    Returns
    -------
    str
        The backend Keras uses (or will use) in this process.

    Raises
    ------
    ValueError
        ``preferred`` is unknown or its package is not installed.

    Warns
    -----
    BackendAlreadySetWarning
        Keras is already imported with another backend than ``preferred``
        (the backend cannot change any more; the running one is returned).
    """
    installed = available_backends()
    if preferred is not None:
        _check_backend(preferred)
        if preferred not in installed:
            raise ValueError(f"backend {preferred!r} is not installed (installed: {installed})")
    if "keras" in sys.modules:
        running = current_backend()
        if preferred is not None and running != preferred:
            warnings.warn(
                f"keras is already imported with backend {running!r}; cannot switch to "
                f"{preferred!r} (call configure_backend before importing keras)",
                BackendAlreadySetWarning, stacklevel=2,
            )
        return running
    if preferred is None:
        preferred = os.environ.get("KERAS_BACKEND") or next(iter(installed), "tensorflow")
    os.environ["KERAS_BACKEND"] = preferred
    # TensorFlow's C++ start-up chatter (oneDNN, CUDA probing) goes straight to fd 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", _OMP_WAIT_POLICY)
    return preferred
