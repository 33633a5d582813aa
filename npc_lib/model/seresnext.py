"""SE-ResNeXt: ResNeXt bottleneck blocks with squeeze-and-excitation (A4).

The network maps one 2D image (one MR slice of a tumour box) to one linear
unit, the *instance risk* (a log-hazard; higher = worse). The same unit is
used in both training stages of the paper (A7): stage 1 reads it as the logit
of "DFS event within 3 years" (binary cross-entropy, ``from_logits=True``),
stage 2 fine-tunes it as a log-hazard with the Cox partial likelihood
(:mod:`npc_lib.model.cox_loss`). ``head="classes"`` instead ends in
``n_classes`` logits (an ImageNet-style classifier, used to check the
parameter count of SE-ResNeXt-50 (32x4d) against the published one).

Everything is written with ``keras.layers`` / ``keras.ops`` only, so the model
runs on any Keras 3 backend. The grouped 3x3 convolution has several exactly
equivalent *formulations* (:data:`FORMULATIONS`) that share one kernel tensor,
so a model trained with one formulation can be loaded and run with another;
their speed differs a lot between backends (see ``benchmarks/bench_train.py``)
and ``"auto"`` picks the fastest measured for the running backend.

References
----------
Xie S, Girshick R, Dollar P, Tu Z, He K. Aggregated residual transformations
for deep neural networks (ResNeXt). CVPR 2017.
Hu J, Shen L, Sun G. Squeeze-and-excitation networks. CVPR 2018.
"""

from __future__ import annotations

__all__ = [
    "FORMULATIONS",
    "SEResNeXtConfig",
    "GroupedConv2D",
    "apply_stem",
    "apply_se_block",
    "apply_grouped_conv",
    "apply_resnext_block",
    "build_se_resnext",
    "forward_macs",
]

import math

import keras
import numpy as np
from keras import layers, ops

from npc_lib.model.network_config import (FORMULATIONS, SEResNeXtConfig, check_formulation,
                                          check_positive_int)

_BN = {"momentum": 0.9, "epsilon": 1e-5}  # PyTorch defaults: better for small batches


def _resolve_formulation(formulation: str) -> str:
    if formulation != "auto":
        return formulation
    from npc_lib.model.backend import best_formulation

    return best_formulation(keras.backend.backend())


def _regularizer(l2: float):
    return keras.regularizers.L2(l2) if l2 > 0 else None


@keras.saving.register_keras_serializable(package="npc_lib")
class GroupedConv2D(layers.Layer):
    """Grouped 2D convolution (no bias, "same" padding) with a choice of formulation.

    The kernel has Keras' grouped ``Conv2D`` layout ``(k, k, C_in / groups,
    filters)``: output channel ``o`` belongs to group ``o // (filters / groups)``
    and sees input channels ``[g * C_in/groups, (g + 1) * C_in/groups)``. All
    formulations compute the same function of this one kernel.

    Parameters
    ----------
    filters, kernel_size, strides, groups : int
        ``filters`` and the input channels must be divisible by ``groups``.
    formulation : str
        One of :data:`FORMULATIONS`; ``"auto"`` is resolved when called, for the
        backend running at that time.
    kernel_regularizer : optional
        Keras regularizer of the kernel.
    """

    def __init__(self, filters, kernel_size=3, strides=1, groups=1, formulation="auto",
                 kernel_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.filters = check_positive_int(filters, "filters")
        self.kernel_size = check_positive_int(kernel_size, "kernel_size")
        self.strides = check_positive_int(strides, "strides")
        self.groups = check_positive_int(groups, "groups")
        self.formulation = check_formulation(formulation)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        if self.filters % self.groups:
            raise ValueError(f"filters={filters} is not divisible by groups={groups}")

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None or channels % self.groups:
            raise ValueError(
                f"input channels={channels} of layer {self.name!r} are not divisible by "
                f"groups={self.groups}"
            )
        self.in_channels = int(channels)
        k = self.kernel_size
        self.kernel = self.add_weight(
            name="kernel", shape=(k, k, channels // self.groups, self.filters),
            initializer="he_normal", regularizer=self.kernel_regularizer,
        )
        # block-diagonal mask for the "masked" formulation (a constant, not a weight)
        cin_g, cout_g = channels // self.groups, self.filters // self.groups
        self._mask = (np.arange(channels)[:, None] // cin_g
                      == np.arange(self.filters)[None, :] // cout_g).astype("float32")

    def compute_output_shape(self, input_shape):
        def out(n):
            return None if n is None else -(-n // self.strides)

        return (input_shape[0], out(input_shape[1]), out(input_shape[2]), self.filters)

    def call(self, x):
        formulation = _resolve_formulation(self.formulation)
        return getattr(self, f"_call_{formulation}")(x, self.kernel)

    # --- formulations ---------------------------------------------------
    def _call_native(self, x, kernel):
        return ops.conv(x, kernel, strides=self.strides, padding="same")

    def _call_split(self, x, kernel):
        if self.groups == 1:
            return self._call_native(x, kernel)
        xs = ops.split(x, self.groups, axis=-1)
        ks = ops.split(kernel, self.groups, axis=-1)
        outs = [ops.conv(xg, kg, strides=self.strides, padding="same") for xg, kg in zip(xs, ks)]
        return ops.concatenate(outs, axis=-1)

    def _call_masked(self, x, kernel):
        dense = ops.tile(kernel, (1, 1, self.groups, 1)) * ops.cast(self._mask, kernel.dtype)
        return ops.conv(x, dense, strides=self.strides, padding="same")

    def _call_depthwise(self, x, kernel):
        k, g = self.kernel_size, self.groups
        cin_g, cout_g = self.in_channels // g, self.filters // g
        # (k, k, cin_g, g, cout_g) -> (k, k, g, cin_g, cout_g) -> (k, k, C_in, cout_g)
        dw = ops.reshape(kernel, (k, k, cin_g, g, cout_g))
        dw = ops.reshape(ops.transpose(dw, (0, 1, 3, 2, 4)), (k, k, self.in_channels, cout_g))
        y = ops.depthwise_conv(x, dw, strides=self.strides, padding="same")
        shape = ops.shape(y)
        y = ops.reshape(y, (-1, shape[1], shape[2], g, cin_g, cout_g))
        return ops.reshape(ops.sum(y, axis=4), (-1, shape[1], shape[2], self.filters))

    def _call_patches(self, x, kernel):
        k, s, g = self.kernel_size, self.strides, self.groups
        cin_g, cout_g = self.in_channels // g, self.filters // g
        h, w = x.shape[1], x.shape[2]
        if h is None or w is None:
            raise ValueError(f"formulation 'patches' needs static spatial sizes in {self.name!r}")
        ho, wo = -(-h // s), -(-w // s)
        ph, pw = max((ho - 1) * s + k - h, 0), max((wo - 1) * s + k - w, 0)
        xp = ops.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
        taps = [xp[:, dy:dy + s * (ho - 1) + 1:s, dx:dx + s * (wo - 1) + 1:s, :]
                for dy in range(k) for dx in range(k)]
        p = ops.reshape(ops.stack(taps, axis=3), (-1, ho, wo, k * k, g, cin_g))
        kk = ops.reshape(kernel, (k * k, cin_g, g, cout_g))
        y = ops.einsum("bhwpgc,pcgo->bhwgo", p, kk)
        return ops.reshape(y, (-1, ho, wo, self.filters))

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters, kernel_size=self.kernel_size, strides=self.strides,
            groups=self.groups, formulation=self.formulation,
            kernel_regularizer=keras.regularizers.serialize(self.kernel_regularizer),
        )
        return config


def apply_stem(x, filters: int, kernel_size: int, strides: int, pool: bool, l2: float = 0.0,
               name: str = "stem"):
    """Conv (no bias) -> BN -> ReLU [-> 3x3 max-pool, stride 2]."""
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding="same", use_bias=False,
                      kernel_initializer="he_normal", kernel_regularizer=_regularizer(l2),
                      name=f"{name}_conv")(x)
    x = layers.BatchNormalization(**_BN, name=f"{name}_bn")(x)
    x = layers.ReLU(name=f"{name}_relu")(x)
    if pool:
        x = layers.MaxPooling2D(3, strides=2, padding="same", name=f"{name}_pool")(x)
    return x


def apply_se_block(x, ratio: int, name: str, l2: float = 0.0):
    """Squeeze-and-excitation: rescale each channel by a gate learnt from the global mean.

    ``x * sigmoid(W2 relu(W1 mean_hw(x) + b1) + b2)``, with ``channels // ratio``
    hidden units (at least 1) and biases in both FC layers (as Hu et al.'s and
    the ``pretrainedmodels``/timm ``legacy_seresnext`` implementation).
    """
    channels = x.shape[-1]
    hidden = max(channels // ratio, 1)
    s = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_squeeze")(x)
    s = layers.Dense(hidden, activation="relu", kernel_regularizer=_regularizer(l2),
                     name=f"{name}_fc1")(s)
    s = layers.Dense(channels, activation="sigmoid", kernel_regularizer=_regularizer(l2),
                     name=f"{name}_fc2")(s)
    return layers.Multiply(name=f"{name}_scale")([x, s])


def apply_grouped_conv(x, filters: int, groups: int, strides: int, name: str,
                       formulation: str = "auto", l2: float = 0.0, kernel_size: int = 3):
    """Grouped ``kernel_size`` convolution (no bias, "same" padding) as a :class:`GroupedConv2D`."""
    return GroupedConv2D(filters, kernel_size, strides=strides, groups=groups,
                         formulation=formulation, kernel_regularizer=_regularizer(l2),
                         name=name)(x)


def apply_resnext_block(x, filters: int, cardinality: int, bottleneck_width: int, strides: int,
                        se_ratio: int, name: str, inner_width: int | None = None,
                        formulation: str = "auto", l2: float = 0.0):
    """One SE-ResNeXt bottleneck block.

    ``1x1 conv (inner) -> BN -> ReLU -> grouped 3x3 conv (inner, stride) -> BN -> ReLU
    -> 1x1 conv (filters) -> BN -> SE``, added to the shortcut (identity, or a
    strided 1x1 conv + BN when the shape changes), then ReLU. ``inner_width``
    defaults to ``cardinality * bottleneck_width``; ``se_ratio=0`` omits the SE
    block. The stride sits on the 3x3 convolution (as in ``pretrainedmodels``'
    ``SEResNeXtBottleneck`` and torchvision's ResNeXt).
    """
    inner = inner_width or cardinality * bottleneck_width
    reg = _regularizer(l2)
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=strides, use_bias=False,
                                 kernel_initializer="he_normal", kernel_regularizer=reg,
                                 name=f"{name}_down_conv")(x)
        shortcut = layers.BatchNormalization(**_BN, name=f"{name}_down_bn")(shortcut)
    y = layers.Conv2D(inner, 1, use_bias=False, kernel_initializer="he_normal",
                      kernel_regularizer=reg, name=f"{name}_conv1")(x)
    y = layers.BatchNormalization(**_BN, name=f"{name}_bn1")(y)
    y = layers.ReLU(name=f"{name}_relu1")(y)
    y = apply_grouped_conv(y, inner, cardinality, strides, name=f"{name}_conv2",
                           formulation=formulation, l2=l2)
    y = layers.BatchNormalization(**_BN, name=f"{name}_bn2")(y)
    y = layers.ReLU(name=f"{name}_relu2")(y)
    y = layers.Conv2D(filters, 1, use_bias=False, kernel_initializer="he_normal",
                      kernel_regularizer=reg, name=f"{name}_conv3")(y)
    y = layers.BatchNormalization(**_BN, name=f"{name}_bn3")(y)
    if se_ratio:
        y = apply_se_block(y, se_ratio, name=f"{name}_se", l2=l2)
    y = layers.Add(name=f"{name}_add")([y, shortcut])
    return layers.ReLU(name=f"{name}_out")(y)


def build_se_resnext(config: SEResNeXtConfig | None = None,
                     name: str = "se_resnext") -> keras.Model:
    """Build an SE-ResNeXt as a functional ``keras.Model``.

    Parameters
    ----------
    config : SEResNeXtConfig, optional
        Architecture; default :meth:`SEResNeXtConfig.cpu_default`.
    name : str
        Model name.

    Returns
    -------
    keras.Model
        Input ``(batch, H, W, C)`` float; output ``(batch, 1)`` linear instance
        risk (log-hazard, higher = worse; also the 3-year-event logit of the
        pre-training stage) for ``head="risk"``, or ``(batch, n_classes)``
        logits for ``head="classes"``. The output layer is named ``"risk"``
        resp. ``"logits"``; the last feature map (for Grad-CAM) is the output
        of the layer named ``"features"``.

    Examples
    --------
    >>> cfg = SEResNeXtConfig.smoke()
    >>> model = build_se_resnext(cfg)
    >>> model.output_shape
    (None, 1)
    """
    config = config or SEResNeXtConfig.cpu_default()
    if not isinstance(config, SEResNeXtConfig):
        raise ValueError(f"config must be an SEResNeXtConfig, got {type(config).__name__}")
    inputs = keras.Input(shape=config.input_shape, name="image")
    x = apply_stem(inputs, config.stem_filters, config.stem_kernel, config.stem_strides,
                   config.stem_pool, l2=config.l2)
    for s, (depth, width) in enumerate(zip(config.stage_depths, config.stage_widths)):
        for b in range(depth):
            strides = 2 if (b == 0 and s > 0) else 1
            x = apply_resnext_block(
                x, width, config.cardinality, config.bottleneck_width, strides, config.se_ratio,
                name=f"stage{s + 1}_block{b + 1}", inner_width=config.inner_width(s),
                formulation=config.formulation, l2=config.l2,
            )
    x = layers.Identity(name="features")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    if config.dropout > 0:
        x = layers.Dropout(config.dropout, name="dropout")(x)
    out_name = "risk" if config.head == "risk" else "logits"
    outputs = layers.Dense(config.output_units, kernel_regularizer=_regularizer(config.l2),
                           name=out_name)(x)
    return keras.Model(inputs, outputs, name=name)


def forward_macs(model: keras.Model) -> int:
    """Multiply-accumulates of one forward pass of one instance (analytic).

    Counts convolutions (``Conv2D``, :class:`GroupedConv2D` at its grouped
    cost, whatever the formulation) and dense layers, from their kernel shapes
    and output spatial sizes; BN, activations, pooling and the SE gating
    multiply are ignored (< 1% for these nets). FLOPs = 2 x MACs.

    Examples
    --------
    >>> forward_macs(build_se_resnext(SEResNeXtConfig.smoke())) > 0
    True
    """
    total = 0
    for layer in model.layers:
        if isinstance(layer, (layers.Conv2D, GroupedConv2D)):
            kernel = layer.kernel.shape  # (k, k, C_in/groups, filters)
            out_h, out_w = layer.output.shape[1], layer.output.shape[2]
            total += math.prod(kernel) * out_h * out_w
        elif isinstance(layer, layers.Dense):
            total += math.prod(layer.kernel.shape)
    return int(total)
