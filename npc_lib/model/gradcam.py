"""Grad-CAM attention maps of the instance risk (A19, the paper's Fig. D3).

For an instance ``x`` with feature map ``A`` (shape ``(h, w, K)``) of the last
convolutional stage and risk output ``y`` (higher = worse), Grad-CAM weights
each channel by its spatially averaged gradient and keeps the positive part:

``alpha_k = mean_{ij} dy/dA_ijk``,  ``L = ReLU(sum_k alpha_k A_k)``,

then upsamples ``L`` bilinearly to the input size and scales it to [0, 1] by
its maximum (an all-zero map stays zero). The map shows where the network
sees evidence of *higher* risk. With a global-average-pool + linear head (as
in :func:`npc_lib.model.seresnext.build_se_resnext`) ``alpha_k = w_k / (h w)``
and Grad-CAM equals the class activation map of Zhou et al. (a check the
tests use).

Gradients come from the running Keras backend's own mechanism
(``tf.GradientTape`` or ``torch.autograd``); the JAX backend is not supported.

References
----------
Selvaraju RR, Cogswell M, Das A, Vedantam R, Parikh D, Batra D. Grad-CAM:
visual explanations from deep networks via gradient-based localization.
ICCV 2017 (arXiv:1610.02391).
"""

from __future__ import annotations

__all__ = ["default_cam_layer", "grad_cam"]

import numpy as np


def _check_images(x, model) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    expected = tuple(model.input_shape[1:])
    if x.ndim != 4 or tuple(x.shape[1:]) != expected:
        raise ValueError(f"x must have shape (N, {', '.join(map(str, expected))}), got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("x contains NaN or infinite values")
    return x


def default_cam_layer(model) -> str:
    """Name of the layer whose output Grad-CAM uses by default.

    The layer named ``"features"`` (the last stage of the SE-ResNeXt) if the
    model has one, else the last layer with a 4D (batch, h, w, channels)
    output.
    """
    names = [layer.name for layer in model.layers]
    if "features" in names:
        return "features"
    import keras

    for layer in reversed(model.layers):
        if not isinstance(layer, keras.layers.InputLayer) and len(layer.output.shape) == 4:
            return layer.name
    raise ValueError(f"model {model.name!r} has no layer with a 4D output for Grad-CAM")


def _gradients(sub_model, x: np.ndarray):
    """Feature map and d(sum of output)/d(feature map), as NumPy arrays."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            fmap, out = sub_model(tf.convert_to_tensor(x), training=False)
            target = tf.reduce_sum(out)
        grads = tape.gradient(target, fmap)
        return fmap.numpy(), grads.numpy()
    if backend == "torch":
        import torch

        with torch.enable_grad():
            fmap, out = sub_model(keras.ops.convert_to_tensor(x), training=False)
            (grads,) = torch.autograd.grad(out.sum(), fmap)
        return fmap.detach().cpu().numpy(), grads.detach().cpu().numpy()
    raise ValueError(f"grad_cam supports the tensorflow and torch backends, not {backend!r}")


def _bilinear_matrix(n_out: int, n_in: int) -> np.ndarray:
    """(n_out, n_in) weights of 1D linear interpolation with half-pixel centres.

    The convention of ``tf.image.resize(..., "bilinear")`` / ``keras.ops.image.resize``
    (no antialiasing): output pixel ``i`` samples the input at
    ``(i + 0.5) * n_in / n_out - 0.5``, clamped to the edge pixels.
    """
    src = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0.0, n_in - 1)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = src - lo
    mat = np.zeros((n_out, n_in))
    np.add.at(mat, (np.arange(n_out), lo), 1.0 - frac)
    np.add.at(mat, (np.arange(n_out), hi), frac)
    return mat


def _upsample(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of (N, h, w) maps to (N, *size) (separable, in NumPy)."""
    rows = _bilinear_matrix(size[0], maps.shape[1])
    cols = _bilinear_matrix(size[1], maps.shape[2])
    return np.einsum("ih,nhw,jw->nij", rows, maps.astype(np.float64), cols)


def grad_cam(model, x, layer_name: str | None = None, *, batch_size: int = 64,
             normalize: str = "instance") -> np.ndarray:
    """Grad-CAM maps of the model's (summed) output for each instance.

    Parameters
    ----------
    model : keras.Model
        Functional model with one image input; its output (instance risk,
        shape ``(N, 1)``; summed over units otherwise) is the explained score.
    x : array, shape (N, H, W, C)
        Instances, preprocessed exactly as for training.
    layer_name : str, optional
        Layer whose output is the feature map; default
        :func:`default_cam_layer` (the last convolutional stage).
    batch_size : int
        Instances per forward/backward pass.
    normalize : {"instance", "batch"}
        ``"instance"``: each map is divided by its own maximum (Selvaraju et
        al.; shows *where* the evidence lies even when it is weak);
        ``"batch"``: all maps by the largest value among them, so maps of
        high- and low-risk patients can be compared in strength.

    Returns
    -------
    ndarray, shape (N, H, W), float32 in [0, 1]
        Attention map of each instance, on the input grid (overlay on the
        slice); 1 = strongest evidence of higher risk.

    Examples
    --------
    >>> import keras
    >>> inp = keras.Input((8, 8, 1))
    >>> f = keras.layers.Conv2D(2, 3, padding="same", activation="relu", name="features")(inp)
    >>> out = keras.layers.Dense(1)(keras.layers.GlobalAveragePooling2D()(f))
    >>> cam = grad_cam(keras.Model(inp, out), np.random.default_rng(0).normal(size=(3, 8, 8, 1)))
    >>> cam.shape, bool(cam.min() >= 0 and cam.max() <= 1)
    ((3, 8, 8), True)
    """
    import keras

    x = _check_images(x, model)
    if normalize not in ("instance", "batch"):
        raise ValueError(f"normalize must be 'instance' or 'batch', got {normalize!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    name = layer_name or default_cam_layer(model)
    try:
        layer = model.get_layer(name)
    except ValueError:
        raise ValueError(f"model {model.name!r} has no layer named {name!r}") from None
    if len(layer.output.shape) != 4:
        raise ValueError(f"layer {name!r} output has shape {layer.output.shape}, not (batch, h, w, channels)")
    if x.shape[0] == 0:
        return np.zeros(x.shape[:3], dtype=np.float32)
    sub_model = keras.Model(model.input, [layer.output, model.output])
    maps = []
    for start in range(0, x.shape[0], batch_size):
        fmap, grads = _gradients(sub_model, x[start:start + batch_size])
        alpha = grads.mean(axis=(1, 2), keepdims=True)  # (n, 1, 1, K)
        maps.append(np.maximum((alpha * fmap).sum(axis=-1), 0.0))
    cams = np.concatenate(maps, axis=0).astype(np.float32)
    cams = _upsample(cams, tuple(x.shape[1:3]))
    cams = np.maximum(cams, 0.0)
    peak = cams.max(axis=(1, 2), keepdims=True) if normalize == "instance" else np.full((1, 1, 1), cams.max())
    cams = np.divide(cams, peak, out=np.zeros_like(cams), where=peak > 0)
    return np.clip(cams, 0.0, 1.0).astype(np.float32)
