"""Deep-learning model: SE-ResNeXt (A4), Cox loss (A5), backend choice.

Import-light: importing ``npc_lib.model`` does not import keras (so that
:func:`configure_backend` can still choose the backend); the network and
loss names below are loaded on first access.
"""

from __future__ import annotations

__all__ = [
    "configure_backend",
    "current_backend",
    "best_formulation",
    "SEResNeXtConfig",
    "GroupedConv2D",
    "build_se_resnext",
    "forward_macs",
    "cox_partial_nll",
    "cox_partial_nll_numpy",
    "CoxPartialLikelihoodLoss",
]

import importlib

from npc_lib.model.backend import best_formulation, configure_backend, current_backend

_LAZY = {
    "SEResNeXtConfig": "npc_lib.model.seresnext",
    "GroupedConv2D": "npc_lib.model.seresnext",
    "build_se_resnext": "npc_lib.model.seresnext",
    "forward_macs": "npc_lib.model.seresnext",
    "cox_partial_nll": "npc_lib.model.cox_loss",
    "cox_partial_nll_numpy": "npc_lib.model.cox_loss",
    "CoxPartialLikelihoodLoss": "npc_lib.model.cox_loss",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'npc_lib.model' has no attribute {name!r}")
