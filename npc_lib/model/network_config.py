"""The architecture of an SE-ResNeXt as data: :class:`SEResNeXtConfig` (no Keras import).

:mod:`npc_lib.model.seresnext` builds the network from it; keeping the
configuration free of Keras lets the run layer resolve and validate a
profile's training settings without starting a deep-learning backend.
"""

from __future__ import annotations

__all__ = ["FORMULATIONS", "SEResNeXtConfig", "check_positive_int", "check_formulation"]

import dataclasses
import json
from typing import Any

import numpy as np

#: grouped-convolution formulations (all give the same output for the same kernel)
#: - ``native``: one convolution with ``groups`` (``keras.ops.conv`` infers it)
#: - ``split``: one convolution per group on a channel slice, then concatenate
#: - ``masked``: one dense convolution with a block-diagonal (masked, tiled) kernel
#: - ``depthwise``: depthwise conv with multiplier = outputs per group, then a
#:   sum over each group's input channels
#: - ``patches``: 3x3 patches gathered by strided slicing, then one einsum
#: - ``auto``: the fastest measured for the running backend
#:   (:func:`npc_lib.model.backend.best_formulation`)
FORMULATIONS: tuple[str, ...] = ("native", "split", "masked", "depthwise", "patches", "auto")
_HEADS = ("risk", "classes")



def check_positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_formulation(formulation: str) -> str:
    if formulation not in FORMULATIONS:
        raise ValueError(f"formulation must be one of {FORMULATIONS}, got {formulation!r}")
    return formulation



@dataclasses.dataclass(frozen=True)
class SEResNeXtConfig:
    """Architecture of an SE-ResNeXt.

    Attributes
    ----------
    input_shape : tuple of int
        ``(H, W, C)`` of one instance (channels last).
    stem_filters, stem_kernel, stem_strides : int
        The stem convolution (no bias) followed by batch norm and ReLU.
    stem_pool : bool
        Whether the stem ends with a 3x3 max-pool of stride 2.
    stage_depths : tuple of int
        Number of bottleneck blocks per stage; every stage after the first
        halves the spatial size (stride 2 in its first block's 3x3 conv).
    stage_widths : tuple of int
        Output channels of each stage (the ResNeXt "planes x 4").
    cardinality : int
        Number of groups of the 3x3 convolution.
    bottleneck_width : int
        Channels per group in the first stage; doubles every stage, so the
        inner width of stage ``s`` is ``cardinality * bottleneck_width * 2**s``
        (ResNeXt's "32x4d" = cardinality 32, width 4).
    se_ratio : int
        Squeeze-and-excitation reduction ratio (channels // ratio hidden units);
        0 = no SE blocks (a plain ResNeXt).
    dropout : float
        Dropout rate before the output layer, in [0, 1).
    l2 : float
        L2 weight penalty on every convolution and dense kernel (0 = none).
    formulation : str
        Grouped-convolution formulation, one of :data:`FORMULATIONS`.
    head : {"risk", "classes"}
        ``"risk"``: one linear unit (log-hazard / 3-year-event logit);
        ``"classes"``: ``n_classes`` logits.
    n_classes : int
        Output units when ``head="classes"`` (ignored for ``"risk"``).
    """

    input_shape: tuple[int, int, int] = (64, 64, 1)
    stem_filters: int = 32
    stem_kernel: int = 3
    stem_strides: int = 1
    stem_pool: bool = True
    stage_depths: tuple[int, ...] = (1, 1, 1)
    stage_widths: tuple[int, ...] = (64, 128, 256)
    cardinality: int = 8
    bottleneck_width: int = 4
    se_ratio: int = 8
    dropout: float = 0.2
    l2: float = 1e-4
    formulation: str = "auto"
    head: str = "risk"
    n_classes: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_shape", tuple(int(v) for v in self.input_shape))
        object.__setattr__(self, "stage_depths", tuple(int(v) for v in self.stage_depths))
        object.__setattr__(self, "stage_widths", tuple(int(v) for v in self.stage_widths))
        if len(self.input_shape) != 3:
            raise ValueError(f"input_shape must be (H, W, C), got {self.input_shape!r}")
        for i, v in enumerate(self.input_shape):
            check_positive_int(v, f"input_shape[{i}]")
        for name in ("stem_filters", "stem_kernel", "stem_strides", "cardinality",
                     "bottleneck_width", "n_classes"):
            check_positive_int(getattr(self, name), name)
        if self.se_ratio != 0:
            check_positive_int(self.se_ratio, "se_ratio (0 = no SE)")
        if not self.stage_depths or len(self.stage_depths) != len(self.stage_widths):
            raise ValueError(
                f"stage_depths and stage_widths must be non-empty and of equal length, "
                f"got {self.stage_depths!r} and {self.stage_widths!r}"
            )
        for i, (d, w) in enumerate(zip(self.stage_depths, self.stage_widths)):
            check_positive_int(d, f"stage_depths[{i}]")
            check_positive_int(w, f"stage_widths[{i}]")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if not float(self.l2) >= 0.0:
            raise ValueError(f"l2 must be >= 0, got {self.l2!r}")
        check_formulation(self.formulation)
        if self.head not in _HEADS:
            raise ValueError(f"head must be one of {_HEADS}, got {self.head!r}")

    @property
    def output_units(self) -> int:
        """Units of the output layer: 1 for ``head="risk"``, else ``n_classes``."""
        return 1 if self.head == "risk" else self.n_classes

    def inner_width(self, stage: int) -> int:
        """Channels of the grouped 3x3 convolution in ``stage`` (0-based)."""
        return self.cardinality * self.bottleneck_width * 2**stage

    def replace(self, **changes: Any) -> "SEResNeXtConfig":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def get_config(self) -> dict[str, Any]:
        """JSON-serialisable dict of all fields (tuples become lists)."""
        out = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "SEResNeXtConfig":
        """Inverse of :meth:`get_config`; unknown keys raise ValueError."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(config) - names)
        if unknown:
            raise ValueError(f"unknown SEResNeXtConfig field(s): {unknown}")
        return cls(**config)

    def to_json(self) -> str:
        return json.dumps(self.get_config(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "SEResNeXtConfig":
        return cls.from_config(json.loads(text))

    @classmethod
    def cpu_default(cls, **changes: Any) -> "SEResNeXtConfig":
        """Small net for a 2-core CPU: 3 stages, cardinality 8, 64x64x1 input.

        One block per stage (widths 64/128/256, inner 32/64/128), 3x3 stem of 32
        filters + max-pool: 160k parameters, 26.8 M multiply-adds per instance;
        trains at ~100-120 instances/s (batch 32) with TensorFlow on 2 shared
        cores (``benchmarks/bench_train.py``).
        """
        return cls(**changes)

    @classmethod
    def smoke(cls, **changes: Any) -> "SEResNeXtConfig":
        """Tiny net that trains in seconds (tests, smoke profile): 32x32x1 input."""
        base = dict(
            input_shape=(32, 32, 1), stem_filters=8, stem_kernel=3, stem_strides=1,
            stem_pool=True, stage_depths=(1, 1), stage_widths=(16, 32), cardinality=4,
            bottleneck_width=2, se_ratio=4, dropout=0.0, l2=0.0,
        )
        base.update(changes)
        return cls(**base)

    @classmethod
    def se_resnext50_32x4d(cls, **changes: Any) -> "SEResNeXtConfig":
        """SE-ResNeXt-50 (32x4d) of Hu et al. 2018: 224x224x3, 1000 classes."""
        base = dict(
            input_shape=(224, 224, 3), stem_filters=64, stem_kernel=7, stem_strides=2,
            stem_pool=True, stage_depths=(3, 4, 6, 3), stage_widths=(256, 512, 1024, 2048),
            cardinality=32, bottleneck_width=4, se_ratio=16, dropout=0.0, l2=0.0,
            head="classes", n_classes=1000,
        )
        base.update(changes)
        return cls(**base)
