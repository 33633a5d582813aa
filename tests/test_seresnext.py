"""Tests of npc_lib.model.seresnext (A4)."""

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

from npc_lib.model.seresnext import (  # noqa: E402
    FORMULATIONS,
    GroupedConv2D,
    SEResNeXtConfig,
    build_se_resnext,
    forward_macs,
)

ROOT = Path(__file__).resolve().parents[1]
CONCRETE = [f for f in FORMULATIONS if f != "auto"]


def _trainable(model) -> int:
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def _naive_grouped_conv(x, kernel, strides, groups):
    """Direct loops: TF-style "same" padding, kernel (k, k, C_in/groups, filters)."""
    b, h, w, c = x.shape
    k, _, cin_g, filters = kernel.shape
    cout_g = filters // groups
    ho, wo = -(-h // strides), -(-w // strides)
    ph, pw = max((ho - 1) * strides + k - h, 0), max((wo - 1) * strides + k - w, 0)
    xp = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    out = np.zeros((b, ho, wo, filters))
    for o in range(filters):
        g = o // cout_g
        for i in range(ho):
            for j in range(wo):
                patch = xp[:, i * strides:i * strides + k, j * strides:j * strides + k,
                           g * cin_g:(g + 1) * cin_g]
                out[:, i, j, o] = np.einsum("bhwc,hwc->b", patch, kernel[..., o])
    return out


# --- architecture: published parameter counts and FLOPs ---------------------------
@pytest.fixture(scope="module")
def se_resnext50():
    return build_se_resnext(SEResNeXtConfig.se_resnext50_32x4d(formulation="native"))


def test_param_count_se_resnext50_32x4d_matches_published(se_resnext50):
    # timm `legacy_seresnext50_32x4d` / pretrainedmodels `se_resnext50_32x4d`:
    # 27,559,896 parameters (trainable; BN running statistics are buffers there),
    # SE FC layers with biases.
    assert _trainable(se_resnext50) == 27_559_896
    assert se_resnext50.output_shape == (None, 1000)
    assert se_resnext50.input_shape == (None, 224, 224, 3)


def test_param_count_resnext50_without_se_matches_torchvision():
    model = build_se_resnext(SEResNeXtConfig.se_resnext50_32x4d(se_ratio=0, formulation="native"))
    assert _trainable(model) == 25_028_904  # torchvision resnext50_32x4d


def test_param_count_se_part_counted_by_hand():
    # every block: SE on c = stage width channels, c//16 hidden, both FC with bias
    se = 0
    for depth, c in zip((3, 4, 6, 3), (256, 512, 1024, 2048)):
        se += depth * (c * (c // 16) + c // 16 + (c // 16) * c + c)
    assert se == 27_559_896 - 25_028_904


def test_forward_macs_se_resnext50_matches_paper(se_resnext50):
    # Hu et al. 2018, Table 2: SE-ResNeXt-50 4.25 GFLOPs (multiply-adds), ResNeXt-50 4.24
    assert forward_macs(se_resnext50) == pytest.approx(4.25e9, rel=0.01)


# --- formulations ------------------------------------------------------------------
@pytest.mark.parametrize("formulation", CONCRETE)
@pytest.mark.parametrize("strides,size", [(1, 7), (2, 9), (2, 8)])
def test_grouped_conv_formulation_matches_naive(formulation, strides, size):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, size, size, 8)).astype("float32")
    layer = GroupedConv2D(12, 3, strides=strides, groups=4, formulation=formulation)
    layer.build(x.shape)
    kernel = rng.standard_normal(tuple(layer.kernel.shape)).astype("float32")
    layer.kernel.assign(kernel)
    got = _numpy(layer(x))
    want = _naive_grouped_conv(x.astype(float), kernel.astype(float), strides, 4)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)


def test_model_formulations_same_weights_same_output():
    config = SEResNeXtConfig.smoke(input_shape=(20, 20, 2), stage_depths=(1, 2))
    x = np.random.default_rng(2).standard_normal((3, 20, 20, 2)).astype("float32")
    reference = build_se_resnext(config.replace(formulation="native"))
    want = _numpy(reference(x, training=True))
    for formulation in FORMULATIONS:
        model = build_se_resnext(config.replace(formulation=formulation))
        model.set_weights([_numpy(w) for w in reference.weights])
        np.testing.assert_allclose(_numpy(model(x, training=True)), want, atol=1e-5)


def test_grouped_conv_bad_groups_raises():
    with pytest.raises(ValueError, match="filters=10 is not divisible by groups=4"):
        GroupedConv2D(10, groups=4)
    layer = GroupedConv2D(8, groups=4, name="g")
    with pytest.raises(ValueError, match="input channels=6 of layer 'g'"):
        layer(np.zeros((1, 5, 5, 6), dtype="float32"))


def test_grouped_conv_unknown_formulation_raises():
    with pytest.raises(ValueError, match="formulation must be one of"):
        GroupedConv2D(8, groups=2, formulation="fft")


# --- config ------------------------------------------------------------------------
@pytest.mark.parametrize("preset", ["cpu_default", "smoke", "se_resnext50_32x4d"])
def test_config_round_trip_dict_and_json(preset):
    config = getattr(SEResNeXtConfig, preset)()
    assert SEResNeXtConfig.from_config(config.get_config()) == config
    assert SEResNeXtConfig.from_json(config.to_json()) == config
    assert json.loads(config.to_json())["stage_depths"] == list(config.stage_depths)


@pytest.mark.parametrize(
    "changes,match",
    [
        ({"input_shape": (32, 32)}, "input_shape must be"),
        ({"stage_depths": (1, 1, 1)}, "equal length"),
        ({"cardinality": 0}, "cardinality must be a positive integer"),
        ({"dropout": 1.0}, "dropout must be in"),
        ({"l2": -1.0}, "l2 must be >= 0"),
        ({"head": "softmax"}, "head must be one of"),
        ({"formulation": "fft"}, "formulation must be one of"),
        ({"se_ratio": -2}, "se_ratio"),
    ],
)
def test_config_invalid_raises(changes, match):
    with pytest.raises(ValueError, match=match):
        SEResNeXtConfig.smoke(**changes)


def test_config_unknown_key_raises():
    with pytest.raises(ValueError, match=r"unknown SEResNeXtConfig field\(s\): \['depth'\]"):
        SEResNeXtConfig.from_config({"depth": 3})


def test_build_non_config_raises():
    with pytest.raises(ValueError, match="config must be an SEResNeXtConfig"):
        build_se_resnext({"input_shape": (32, 32, 1)})


# --- model -------------------------------------------------------------------------
def test_output_shape_risk_and_classes_heads():
    config = SEResNeXtConfig.smoke()
    x = np.zeros((5, *config.input_shape), dtype="float32")
    assert _numpy(build_se_resnext(config)(x)).shape == (5, 1)
    classes = build_se_resnext(config.replace(head="classes", n_classes=3))
    assert classes.output_shape == (None, 3)
    assert classes.get_layer("logits").units == 3


def test_cpu_default_shape_and_size():
    config = SEResNeXtConfig.cpu_default()
    model = build_se_resnext(config)
    assert len(config.stage_depths) == 3 and config.cardinality == 8
    assert model.input_shape == (None, *config.input_shape)
    assert model.get_layer("features").output.shape[1:3] == (8, 8)
    assert model.output_shape == (None, 1)


def test_model_get_config_round_trip_same_predictions():
    config = SEResNeXtConfig.smoke(dropout=0.3, l2=1e-4)
    model = build_se_resnext(config)
    clone = keras.Model.from_config(model.get_config())
    clone.set_weights([_numpy(w) for w in model.weights])
    x = np.random.default_rng(3).standard_normal((4, *config.input_shape)).astype("float32")
    np.testing.assert_array_equal(_numpy(clone(x)), _numpy(model(x)))


# Keras 3.15's TF backend calls np.array(variable, copy=False) when saving (numpy 2)
@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")
def test_model_save_load_keras_file_same_predictions(tmp_path):
    config = SEResNeXtConfig.smoke()
    model = build_se_resnext(config)
    x = np.random.default_rng(4).standard_normal((4, *config.input_shape)).astype("float32")
    model(x, training=True)  # move BN statistics away from their initial values
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(_numpy(loaded(x)), _numpy(model(x)))
    assert loaded.get_layer("stage1_block1_conv2").formulation == "auto"


def test_model_trains_one_step_reduces_loss():
    config = SEResNeXtConfig.smoke()
    rng = np.random.default_rng(5)
    x = rng.standard_normal((16, *config.input_shape)).astype("float32")
    y = (x[:, :8, :8, 0].mean(axis=(1, 2)) > 0).astype("float32")[:, None]
    keras.utils.set_random_seed(0)
    model = build_se_resnext(config)
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True))
    first = float(model.train_on_batch(x, y))
    for _ in range(10):
        last = float(model.train_on_batch(x, y))
    assert np.isfinite(first) and last < first


_FORWARD_SCRIPT = textwrap.dedent(
    """
    import json, numpy as np, keras
    from npc_lib.model.seresnext import SEResNeXtConfig, build_se_resnext
    config = SEResNeXtConfig.smoke()
    model = build_se_resnext(config)
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal(w.shape).astype("float32") * 0.1 for w in model.weights]
    weights = [abs(v) + 0.5 if "variance" in w.path else v for w, v in zip(model.weights, weights)]
    model.set_weights(weights)
    x = rng.standard_normal((2, *config.input_shape)).astype("float32")
    out = keras.ops.convert_to_numpy(model(x, training=False))
    print(keras.backend.backend(), json.dumps(out.ravel().tolist()))
    """
)


@pytest.mark.slow
def test_forward_pass_same_on_tensorflow_and_torch():
    outputs = {}
    for backend in ("tensorflow", "torch"):
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3",
                   PYTHONPATH=str(ROOT))
        proc = subprocess.run([sys.executable, "-c", _FORWARD_SCRIPT], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        name, values = proc.stdout.strip().splitlines()[-1].split(" ", 1)
        assert name == backend
        outputs[backend] = np.array(json.loads(values))
    assert outputs["torch"].shape == (2,)
    np.testing.assert_allclose(outputs["torch"], outputs["tensorflow"], rtol=1e-4, atol=1e-5)
