"""Cox partial log-likelihood loss for survival networks (A5).

The network outputs one risk ``r_i`` (log-hazard; higher = worse) per
instance. For distinct event times ``t`` with ``d_t`` tied events ``D_t`` and
risk set ``R_t = {j : t_j >= t}`` the negative partial log-likelihood is

* Breslow: ``-sum_t [ sum_{i in D_t} r_i - d_t log sum_{j in R_t} exp(r_j) ]``
* Efron:   ``-sum_t [ sum_{i in D_t} r_i - sum_{l=0}^{d_t-1}
  log( sum_{j in R_t} exp(r_j) - (l / d_t) sum_{i in D_t} exp(r_i) ) ]``

and the loss is that sum divided by the number of events (a mean over
events, so the scale does not depend on the batch's event count). Without
ties both are the same. Censored instances (``event = 0``) only enter risk
sets. The computation sorts the batch by time once (O(n log n)) and gets every
risk-set sum from one cumulative sum of ``exp(r - max r)`` (the max-shift
keeps it finite; risks spread over more than ~80 (float32) / ~700 (float64)
log-hazard units would underflow, far beyond any trained network's range).

The statistic equals statsmodels' ``PHReg(time, x, status=event, ties=...)
.loglike([1])`` with ``x = r`` (and lifelines' Efron likelihood), negated and
divided by the number of events: see ``tests/test_cox_loss.py``.

References
----------
Cox DR. Regression models and life-tables. JRSS-B 1972.
Efron B. The efficiency of Cox's likelihood function for censored data. JASA 1977.
Breslow N. Covariance analysis of censored survival data. Biometrics 1974.
Katzman JL et al. DeepSurv. BMC Med Res Methodol 2018 (the loss for networks).
"""

from __future__ import annotations

__all__ = [
    "TIES",
    "NoEventsWarning",
    "cox_partial_nll",
    "cox_partial_nll_numpy",
    "CoxPartialLikelihoodLoss",
]

import warnings

import keras
import numpy as np
from keras import ops

TIES: tuple[str, ...] = ("breslow", "efron")


class NoEventsWarning(UserWarning):
    """A batch without events: the partial likelihood is empty, the loss is 0."""


def _check_ties(ties: str) -> str:
    if ties not in TIES:
        raise ValueError(f"ties must be one of {TIES}, got {ties!r}")
    return ties


def _check_numpy_inputs(risk, time, event):
    risk = np.asarray(risk, dtype=float).reshape(-1)
    time = np.asarray(time, dtype=float).reshape(-1)
    event = np.asarray(event).reshape(-1)
    if not (risk.size == time.size == event.size):
        raise ValueError(
            f"risk, time and event must have the same length, got {risk.size}, {time.size}, "
            f"{event.size}"
        )
    for name, values in (("risk", risk), ("time", time)):
        if not np.all(np.isfinite(values)):
            raise ValueError(f"{name} must be finite")
    if np.any(time < 0):
        raise ValueError("time must be >= 0")
    if not np.all(np.isin(event, (0, 1))):
        raise ValueError("event must be 0/1 (or boolean)")
    return risk, time, event.astype(bool)


def _concrete(value) -> float | None:
    """The value of a scalar tensor if it is known now (eager), else None (traced)."""
    # float() rather than ops.convert_to_numpy: the latter warns (DeprecationWarning)
    # with numpy 2.4 on torch tensors
    try:
        return float(value)
    except Exception:  # symbolic tensor inside a compiled graph (tf.function, jax.jit)
        return None


def _cumsum(x):
    """Cumulative sum along axis 0 keeping the dtype.

    Keras 3.15's torch backend computes ``ops.cumsum`` (and ``ops.maximum``) of
    float64 in float32 (its dtype promotion maps float64 to floatx), which
    would cost the loss 7 digits; call torch directly there.
    """
    if keras.backend.backend() == "torch":
        import torch

        return torch.cumsum(x, dim=0)
    return ops.cumsum(x, axis=0)


def _maximum(x, y):
    return ops.where(x > y, x, y)


def _warn_no_events() -> None:
    warnings.warn("batch has no events: Cox partial likelihood is empty, loss set to 0",
                  NoEventsWarning, stacklevel=3)


def cox_partial_nll(risk, time, event, ties: str = "breslow"):
    """Negative Cox partial log-likelihood per event, in ``keras.ops`` (differentiable).

    Parameters
    ----------
    risk : tensor, shape (n,) or (n, 1)
        Predicted log-hazard per instance (higher = worse), float.
    time : tensor, shape (n,) or (n, 1)
        Follow-up time (any unit; only its order and ties matter).
    event : tensor, shape (n,) or (n, 1)
        1/True = event observed at ``time``, 0/False = censored.
    ties : {"breslow", "efron"}
        Handling of tied event times.

    Returns
    -------
    scalar tensor
        ``-log PL(risk) / n_events`` (dtype of ``risk``); 0 when the batch has
        no events (with a :class:`NoEventsWarning` when that is known at call
        time, i.e. in eager execution; inside a compiled graph it is silent).

    Examples
    --------
    >>> import numpy as np
    >>> r, t, e = np.array([0.5, 0.0, -0.5]), np.array([1.0, 2.0, 3.0]), np.array([1, 1, 0])
    >>> # events at t=1: 0.5 - log(e^.5 + 1 + e^-.5); at t=2: 0 - log(1 + e^-.5)
    >>> round(float(cox_partial_nll(r, t, e)), 6)
    0.577173
    >>> round(float(cox_partial_nll_numpy(r, t, e)), 6)
    0.577173
    """
    _check_ties(ties)
    risk = ops.convert_to_tensor(risk)
    if "float" not in keras.backend.standardize_dtype(risk.dtype):
        risk = ops.cast(risk, keras.config.floatx())
    dtype = risk.dtype
    risk = ops.reshape(risk, (-1,))
    time = ops.reshape(ops.cast(time, dtype), (-1,))
    event = ops.reshape(ops.cast(event, dtype), (-1,))

    # sort by time, descending: the risk set of position k is a prefix
    order = ops.argsort(-time)
    r, t, e = ops.take(risk, order), ops.take(time, order), ops.take(event, order)
    n = ops.shape(r)[0]
    t_ascending = ops.flip(t, axis=0)
    # tie group of position k occupies [start_k, end_k] in the descending order
    n_ge = n - ops.cast(ops.searchsorted(t_ascending, t, side="left"), "int32")
    start = n - ops.cast(ops.searchsorted(t_ascending, t, side="right"), "int32")
    end = n_ge - 1

    shift = ops.stop_gradient(ops.max(r))
    w = ops.exp(r - shift)
    zero = ops.zeros((1,), dtype=dtype)
    std = keras.backend.standardize_dtype(dtype)
    risk_set_sum = ops.take(_cumsum(w), end)  # sum_{t_j >= t_k} exp(r_j - shift)
    if ties == "efron":
        cum_ew = ops.concatenate([zero, _cumsum(e * w)])
        cum_e = ops.concatenate([zero, _cumsum(e)])
        tied_sum = ops.take(cum_ew, end + 1) - ops.take(cum_ew, start)  # sum_{D_t} exp(r - shift)
        n_tied = ops.take(cum_e, end + 1) - ops.take(cum_e, start)  # d_t
        rank = cum_e[:-1] - ops.take(cum_e, start)  # events before k in its tie group: l
        denominator = risk_set_sum - rank / _maximum(n_tied, ops.ones_like(n_tied)) * tied_sum
    else:
        denominator = risk_set_sum
    ones = ops.ones_like(denominator)
    denominator = ops.where(e > 0, _maximum(denominator, ones * float(np.finfo(std).tiny)), ones)
    log_lik = ops.sum(e * (r - shift - ops.log(denominator)))
    n_events = ops.sum(e)
    known = _concrete(n_events)
    if known is not None and known == 0:
        _warn_no_events()
    return -log_lik / _maximum(n_events, ops.ones_like(n_events))


def cox_partial_nll_numpy(risk, time, event, ties: str = "breslow") -> float:
    """Naive O(n x distinct times) numpy reference of :func:`cox_partial_nll`.

    Loops over the distinct event times straight from the definition (float64,
    log-sum-exp per risk set); used to test the fast version.

    Examples
    --------
    >>> # two tied events: 1 - log(e + 1) - log((e + 1) / 2), over 2 events
    >>> round(cox_partial_nll_numpy([1.0, 0.0], [1.0, 1.0], [1, 1], ties="efron"), 6)
    0.466688
    """
    _check_ties(ties)
    risk, time, event = _check_numpy_inputs(risk, time, event)
    n_events = int(event.sum())
    if n_events == 0:
        _warn_no_events()
        return 0.0
    log_lik = 0.0
    for t in np.unique(time[event]):
        tied = event & (time == t)
        at_risk = time >= t
        d = int(tied.sum())
        shift = risk[at_risk].max()
        s_risk = np.exp(risk[at_risk] - shift).sum()
        s_tied = np.exp(risk[tied] - shift).sum()
        fractions = np.arange(d) / d if ties == "efron" else np.zeros(d)
        log_lik += risk[tied].sum() - np.sum(np.log(s_risk - fractions * s_tied) + shift)
    return float(-log_lik / n_events)


@keras.saving.register_keras_serializable(package="npc_lib")
class CoxPartialLikelihoodLoss(keras.losses.Loss):
    """Keras loss: negative Cox partial log-likelihood per event of a batch.

    ``y_true`` has shape ``(n, 2)`` with columns ``[time, event]``;
    ``y_pred`` is the risk, shape ``(n, 1)`` or ``(n,)`` (higher = worse). The
    loss couples the instances of a batch (risk sets), so it is computed on
    the whole batch and is already a scalar: keep the batch a meaningful sample
    with events, shuffle, and do not pass ``sample_weight``.

    Parameters
    ----------
    ties : {"breslow", "efron"}
    name : str

    Examples
    --------
    >>> import numpy as np
    >>> loss = CoxPartialLikelihoodLoss(ties="efron")
    >>> y_true = np.array([[1.0, 1], [2.0, 1], [3.0, 0]])
    >>> round(float(loss(y_true, np.array([[0.5], [0.0], [-0.5]]))), 6)
    0.577173
    """

    def __init__(self, ties: str = "breslow", name: str = "cox_partial_nll", **kwargs):
        super().__init__(name=name, **kwargs)
        self.ties = _check_ties(ties)

    def call(self, y_true, y_pred):
        y_true = ops.reshape(y_true, (-1, 2))
        return cox_partial_nll(y_pred, y_true[:, 0], y_true[:, 1], ties=self.ties)

    def get_config(self):
        config = super().get_config()
        config["ties"] = self.ties
        return config
