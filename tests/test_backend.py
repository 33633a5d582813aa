"""Tests of npc_lib.model.backend (backend choice) and the import-light npc_lib.model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from npc_lib.model import backend as bk
from npc_lib.model.backend import (
    BACKENDS,
    DEFAULT_BACKEND,
    MEASURED_SPEED,
    BackendAlreadySetWarning,
    available_backends,
    best_formulation,
    configure_backend,
    current_backend,
)

ROOT = Path(__file__).resolve().parents[1]


def _fresh_python(code: str, **env_changes: str | None) -> str:
    """Run ``code`` in a new interpreter (keras not imported); return its last stdout line."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for key in ("KERAS_BACKEND", "OMP_WAIT_POLICY"):
        env.pop(key, None)
    for key, value in env_changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip().splitlines()[-1]


_CONFIGURE = (
    "import os, sys; from npc_lib.model.backend import configure_backend; "
    "b = configure_backend({arg}); "
    "print(b, os.environ['KERAS_BACKEND'], os.environ.get('OMP_WAIT_POLICY'), "
    "'keras' in sys.modules)"
)


def test_configure_backend_default_is_fastest_measured():
    out = _fresh_python(_CONFIGURE.format(arg=""))
    assert out == f"{DEFAULT_BACKEND} {DEFAULT_BACKEND} PASSIVE False"


@pytest.mark.parametrize("preferred", ["tensorflow", "torch"])
def test_configure_backend_preferred_sets_env(preferred):
    if preferred not in available_backends():
        pytest.skip(f"{preferred} not installed")
    out = _fresh_python(_CONFIGURE.format(arg=repr(preferred)))
    assert out == f"{preferred} {preferred} PASSIVE False"


def test_configure_backend_keeps_user_env_and_omp_policy():
    other = next(b for b in available_backends() if b != DEFAULT_BACKEND)
    out = _fresh_python(_CONFIGURE.format(arg=""), KERAS_BACKEND=other, OMP_WAIT_POLICY="ACTIVE")
    assert out == f"{other} {other} ACTIVE False"


def test_configure_backend_after_keras_import_warns_and_reports_running():
    keras = pytest.importorskip("keras")
    running = keras.backend.backend()
    other = next(b for b in available_backends() if b != running)
    before = os.environ.get("KERAS_BACKEND")
    with pytest.warns(BackendAlreadySetWarning, match=f"already imported with backend '{running}'"):
        assert configure_backend(other) == running
    assert os.environ.get("KERAS_BACKEND") == before
    assert configure_backend() == running  # nothing asked for: no warning (filterwarnings=error)
    assert configure_backend(running) == running


def test_configure_backend_unknown_raises():
    with pytest.raises(ValueError, match="backend must be one of"):
        configure_backend("theano")


def test_configure_backend_not_installed_raises(monkeypatch):
    monkeypatch.setattr(bk, "available_backends", lambda: ["tensorflow"])
    with pytest.raises(ValueError, match="backend 'torch' is not installed"):
        configure_backend("torch")


def test_current_backend_matches_keras_in_process():
    keras = pytest.importorskip("keras")
    assert current_backend() == keras.backend.backend()


def test_current_backend_without_keras_reads_env_then_keras_json(tmp_path):
    code = "from npc_lib.model.backend import current_backend; print(current_backend())"
    assert _fresh_python(code, KERAS_BACKEND="torch", KERAS_HOME=str(tmp_path)) == "torch"
    (tmp_path / "keras.json").write_text(json.dumps({"backend": "jax"}))
    assert _fresh_python(code, KERAS_HOME=str(tmp_path)) == "jax"
    assert _fresh_python(code, KERAS_HOME=str(tmp_path / "none")) == "tensorflow"


def test_available_backends_ordered_and_installed():
    installed = available_backends()
    assert "tensorflow" in installed
    assert installed == [b for b in BACKENDS if b in installed]


@pytest.mark.parametrize("backend", BACKENDS)
def test_best_formulation_is_a_concrete_formulation(backend):
    assert best_formulation(backend) in ("native", "split", "masked", "depthwise", "patches")


def test_best_formulation_unknown_backend_raises():
    with pytest.raises(ValueError, match="backend must be one of"):
        best_formulation("mxnet")


def test_defaults_follow_measured_speed():
    fastest = {b: max(speeds, key=speeds.get) for b, speeds in MEASURED_SPEED.items()}
    for backend, formulation in fastest.items():
        assert best_formulation(backend) == formulation
    overall = max(MEASURED_SPEED, key=lambda b: max(MEASURED_SPEED[b].values()))
    assert DEFAULT_BACKEND == overall


def test_import_npc_lib_model_does_not_import_keras():
    code = ("import sys, npc_lib.model as m; print('keras' in sys.modules, "
            "callable(m.configure_backend))")
    assert _fresh_python(code) == "False True"


def test_npc_lib_model_lazy_names_resolve_and_unknown_raises():
    pytest.importorskip("keras")
    import npc_lib.model as model

    assert model.build_se_resnext.__name__ == "build_se_resnext"
    assert model.CoxPartialLikelihoodLoss.__name__ == "CoxPartialLikelihoodLoss"
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        model.nothing  # noqa: B018
