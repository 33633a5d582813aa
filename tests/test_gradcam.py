"""Tests of npc_lib.model.gradcam (A19)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from keras_arrays import to_numpy as _numpy

keras = pytest.importorskip("keras")

from npc_lib.model.gradcam import _upsample, default_cam_layer, grad_cam  # noqa: E402
from npc_lib.model.seresnext import SEResNeXtConfig, build_se_resnext  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _signed_model():
    """features = [relu(x), relu(-x)], risk = mean(ch0) - mean(ch1): bright raises risk."""
    inp = keras.Input((16, 16, 1))
    conv = keras.layers.Conv2D(2, 1, activation="relu", name="features")
    head = keras.layers.Dense(1, name="risk")
    out = head(keras.layers.GlobalAveragePooling2D()(conv(inp)))
    model = keras.Model(inp, out)
    conv.set_weights([np.array([1.0, -1.0], "float32").reshape(1, 1, 1, 2), np.zeros(2, "float32")])
    head.set_weights([np.array([[1.0], [-1.0]], "float32"), np.zeros(1, "float32")])
    return model


def test_grad_cam_shape_and_range_on_se_resnext():
    keras.utils.set_random_seed(0)
    model = build_se_resnext(SEResNeXtConfig.smoke())
    x = np.random.default_rng(0).normal(size=(5, 32, 32, 1)).astype("float32")
    cam = grad_cam(model, x, batch_size=2)
    assert cam.shape == (5, 32, 32) and cam.dtype == np.float32
    assert cam.min() >= 0.0 and cam.max() <= 1.0
    assert default_cam_layer(model) == "features"
    # each non-zero map is scaled to a peak of exactly 1
    peaks = cam.max(axis=(1, 2))
    assert np.all((peaks == 0) | np.isclose(peaks, 1.0))


def test_grad_cam_equals_class_activation_map_for_linear_head():
    # with GAP + Dense, alpha_k = w_k / (h w): Grad-CAM is the CAM of Zhou et al.
    keras.utils.set_random_seed(1)
    model = build_se_resnext(SEResNeXtConfig.smoke())
    x = np.random.default_rng(1).normal(size=(3, 32, 32, 1)).astype("float32")
    fmap = _numpy(keras.Model(model.input, model.get_layer("features").output)(
        keras.ops.convert_to_tensor(x), training=False))
    w = _numpy(model.get_layer("risk").kernel.value)[:, 0]
    cam = _upsample(np.maximum(fmap @ w, 0.0), (32, 32))
    cam = cam / np.where(cam.max(axis=(1, 2), keepdims=True) > 0, cam.max(axis=(1, 2), keepdims=True), 1)
    np.testing.assert_allclose(grad_cam(model, x), cam, atol=1e-4)


def test_upsample_matches_tensorflow_bilinear_resize():
    tf = pytest.importorskip("tensorflow")
    maps = np.random.default_rng(2).normal(size=(2, 3, 5))
    expected = tf.image.resize(maps[..., None], (16, 12), method="bilinear").numpy()[..., 0]
    np.testing.assert_allclose(_upsample(maps, (16, 12)), expected, atol=1e-5)
    np.testing.assert_array_equal(_upsample(maps, (3, 5)), maps)


def test_grad_cam_highlights_region_that_raises_risk():
    model = _signed_model()
    x = np.zeros((1, 16, 16, 1), "float32")
    x[0, 2:6, 2:6, 0] = 3.0      # raises the risk
    x[0, 10:14, 10:14, 0] = -3.0  # lowers the risk: must not be highlighted
    cam = grad_cam(model, x)[0]
    assert cam[2:6, 2:6].min() == pytest.approx(1.0)
    assert cam[10:14, 10:14].max() == 0.0
    assert cam.sum() == pytest.approx(16.0)


def test_grad_cam_batch_normalisation_keeps_relative_strength():
    model = _signed_model()
    x = np.zeros((2, 16, 16, 1), "float32")
    x[0, 2:6, 2:6, 0] = 3.0
    x[1, 2:6, 2:6, 0] = 1.0  # the same region, a third of the evidence
    per_instance = grad_cam(model, x)
    per_batch = grad_cam(model, x, normalize="batch")
    np.testing.assert_allclose(per_instance[0], per_instance[1], atol=1e-6)
    np.testing.assert_allclose(per_batch[1], per_batch[0] / 3.0, atol=1e-6)
    assert per_batch.max() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="normalize must be 'instance' or 'batch'"):
        grad_cam(model, x, normalize="none")


def test_grad_cam_zero_map_when_nothing_raises_risk():
    x = np.full((2, 16, 16, 1), -1.0, "float32")
    np.testing.assert_array_equal(grad_cam(_signed_model(), x), 0.0)


def test_grad_cam_rejects_wrong_shape():
    with pytest.raises(ValueError, match=r"x must have shape \(N, 16, 16, 1\)"):
        grad_cam(_signed_model(), np.zeros((2, 8, 8, 1)))


def test_grad_cam_rejects_unknown_layer():
    with pytest.raises(ValueError, match="no layer named 'nope'"):
        grad_cam(_signed_model(), np.zeros((1, 16, 16, 1)), layer_name="nope")


def test_grad_cam_rejects_non_finite_input():
    x = np.zeros((1, 16, 16, 1))
    x[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        grad_cam(_signed_model(), x)


_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import keras
    from npc_lib.model.gradcam import grad_cam
    from npc_lib.model.seresnext import SEResNeXtConfig, build_se_resnext
    model = build_se_resnext(SEResNeXtConfig.smoke(formulation="native"))
    rng = np.random.default_rng(7)
    model.set_weights([rng.normal(0, 0.3, w.shape).astype("float32") if w.ndim > 1 else w
                       for w in model.get_weights()])
    x = rng.normal(size=(2, 32, 32, 1)).astype("float32")
    print(json.dumps({"backend": keras.backend.backend(), "cam": grad_cam(model, x).tolist()}))
    """
)


def _run_backend(backend: str) -> np.ndarray:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-c", _SCRIPT], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["backend"] == backend
    return np.asarray(result["cam"])


@pytest.mark.slow
def test_grad_cam_same_maps_on_tensorflow_and_torch():
    pytest.importorskip("torch")
    pytest.importorskip("tensorflow")
    tf_cam, torch_cam = _run_backend("tensorflow"), _run_backend("torch")
    assert tf_cam.shape == (2, 32, 32) and tf_cam.max() > 0
    np.testing.assert_allclose(tf_cam, torch_cam, atol=1e-3)
