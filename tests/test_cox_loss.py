"""Tests of npc_lib.model.cox_loss (A5)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from keras_arrays import to_numpy as _numpy
from hypothesis import given, settings
from hypothesis import strategies as st

keras = pytest.importorskip("keras")

from npc_lib.model.cox_loss import (  # noqa: E402
    TIES,
    CoxPartialLikelihoodLoss,
    NoEventsWarning,
    cox_partial_nll,
    cox_partial_nll_numpy,
)


def _survival_with_ties(n, seed, event_rate=0.4):
    """Random risks, integer-month times (many ties, tied events), events."""
    rng = np.random.default_rng(seed)
    risk = rng.normal(0.0, 1.0, n)
    time = rng.integers(1, max(n // 4, 2), n).astype(float)
    event = rng.random(n) < event_rate
    event[0] = True
    return risk, time, event


def _loss(risk, time, event, ties):
    return float(_numpy(cox_partial_nll(risk, time, event, ties=ties)))


def _grad(fn, x):
    """Gradient of a scalar function at ``x`` (float64) with the running backend."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        xv = tf.Variable(x)
        with tf.GradientTape() as tape:
            y = fn(xv)
        return tape.gradient(y, xv).numpy()
    if backend == "torch":
        import torch

        xt = torch.tensor(x, requires_grad=True)
        fn(xt).backward()
        return xt.grad.numpy()
    pytest.skip(f"no gradient helper for backend {backend}")


# --- against independent implementations --------------------------------------------
@pytest.mark.parametrize("ties", TIES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cox_nll_matches_statsmodels_phreg(ties, seed):
    sm = pytest.importorskip("statsmodels.duration.hazard_regression")
    risk, time, event = _survival_with_ties(60, seed)
    model = sm.PHReg(time, risk[:, None], status=event.astype(float), ties=ties)
    want = -model.loglike(np.array([1.0])) / event.sum()
    assert _loss(risk, time, event, ties) == pytest.approx(want, abs=1e-6, rel=1e-6)
    assert cox_partial_nll_numpy(risk, time, event, ties) == pytest.approx(want, rel=1e-10)


def test_cox_nll_efron_matches_lifelines_log_likelihood():
    lifelines = pytest.importorskip("lifelines")
    rng = np.random.default_rng(7)
    x = rng.normal(size=(80, 2))
    time = np.ceil(rng.exponential(20 * np.exp(-x @ [0.7, -0.3]))).clip(1, 30)
    event = rng.random(80) < 0.6
    df = pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "T": time, "E": event})
    fitter = lifelines.CoxPHFitter().fit(df, "T", "E")  # Efron ties
    assert (df["T"].value_counts() > 1).any()
    risk = x @ fitter.params_.to_numpy()
    want = -fitter.log_likelihood_ / event.sum()
    assert _loss(risk, time, event, "efron") == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize("ties", TIES)
def test_cox_nll_no_ties_breslow_equals_efron(ties):
    rng = np.random.default_rng(3)
    risk, time, event = rng.normal(size=30), rng.permutation(30) + 1.0, rng.random(30) < 0.5
    event[0] = True
    assert _loss(risk, time, event, ties) == pytest.approx(
        cox_partial_nll_numpy(risk, time, event, "breslow"), rel=1e-10
    )


def test_cox_nll_float32_wide_risk_range_finite():
    risk, time, event = _survival_with_ties(50, 4)
    risk = (risk * 20).astype("float32")  # spread of ~100 log-hazard units
    got = _loss(risk, time.astype("float32"), event, "efron")
    assert np.isfinite(got)
    assert got == pytest.approx(cox_partial_nll_numpy(risk, time, event, "efron"), rel=1e-4)


# --- gradient ------------------------------------------------------------------------
@pytest.mark.parametrize("ties", TIES)
def test_cox_nll_gradient_matches_finite_differences(ties):
    risk, time, event = _survival_with_ties(25, 5)
    grad = _grad(lambda r: cox_partial_nll(r, time, event, ties=ties), risk)
    h = 1e-6
    numeric = np.array([
        (cox_partial_nll_numpy(risk + h * np.eye(25)[i], time, event, ties)
         - cox_partial_nll_numpy(risk - h * np.eye(25)[i], time, event, ties)) / (2 * h)
        for i in range(25)
    ])
    np.testing.assert_allclose(grad, numeric, atol=1e-7)
    assert grad.sum() == pytest.approx(0.0, abs=1e-10)  # shift invariance


# --- invariances (hypothesis) ----------------------------------------------------------
@st.composite
def _batches(draw):
    n = draw(st.integers(2, 25))
    risk = np.array(draw(st.lists(st.floats(-5, 5), min_size=n, max_size=n)))
    time = np.array(draw(st.lists(st.integers(1, 6), min_size=n, max_size=n)), dtype=float)
    event = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    event[draw(st.integers(0, n - 1))] = True
    return risk, time, event


@settings(max_examples=25, deadline=None)
@given(batch=_batches(), shift=st.floats(-20, 20), seed=st.integers(0, 2**16),
       ties=st.sampled_from(TIES))
def test_cox_nll_invariant_to_shift_and_permutation(batch, shift, seed, ties):
    risk, time, event = batch
    base = _loss(risk, time, event, ties)
    perm = np.random.default_rng(seed).permutation(len(risk))
    assert _loss(risk + shift, time, event, ties) == pytest.approx(base, rel=1e-9, abs=1e-9)
    assert _loss(risk[perm], time[perm], event[perm], ties) == pytest.approx(base, rel=1e-9,
                                                                             abs=1e-9)
    assert base == pytest.approx(cox_partial_nll_numpy(risk, time, event, ties), rel=1e-9,
                                 abs=1e-9)


# --- no events, bad input ----------------------------------------------------------------
@pytest.mark.parametrize("ties", TIES)
def test_cox_nll_no_events_zero_and_warns(ties):
    risk, time = np.array([0.3, -1.0, 2.0]), np.array([1.0, 2.0, 2.0])
    event = np.zeros(3, dtype=bool)
    with pytest.warns(NoEventsWarning, match="no events"):
        assert _loss(risk, time, event, ties) == 0.0
    with pytest.warns(NoEventsWarning, match="no events"):
        assert cox_partial_nll_numpy(risk, time, event, ties) == 0.0
    with pytest.warns(NoEventsWarning):
        grad = _grad(lambda r: cox_partial_nll(r, time, event, ties=ties), risk)
    np.testing.assert_array_equal(grad, 0.0)


def test_cox_nll_with_events_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _loss([0.1, 0.2], [1.0, 2.0], [1, 0], "efron")


def test_cox_nll_unknown_ties_raises():
    with pytest.raises(ValueError, match="ties must be one of"):
        cox_partial_nll([0.0], [1.0], [1], ties="exact")
    with pytest.raises(ValueError, match="ties must be one of"):
        CoxPartialLikelihoodLoss(ties="kalbfleisch")


@pytest.mark.parametrize(
    "risk,time,event,match",
    [
        ([0.0, 1.0], [1.0], [1, 0], "same length"),
        ([np.nan], [1.0], [1], "risk must be finite"),
        ([0.0], [-1.0], [1], "time must be >= 0"),
        ([0.0], [1.0], [2], "event must be 0/1"),
    ],
)
def test_cox_nll_numpy_bad_input_raises(risk, time, event, match):
    with pytest.raises(ValueError, match=match):
        cox_partial_nll_numpy(risk, time, event)


# --- keras Loss -------------------------------------------------------------------------
@pytest.mark.parametrize("ties", TIES)
def test_loss_class_matches_function_and_accepts_column_risk(ties):
    risk, time, event = _survival_with_ties(20, 6)
    y_true = np.stack([time, event.astype(float)], axis=1)
    got = float(_numpy(CoxPartialLikelihoodLoss(ties=ties)(y_true, risk[:, None])))
    assert got == pytest.approx(cox_partial_nll_numpy(risk, time, event, ties), rel=1e-6)


def test_loss_class_serialisation_round_trip():
    loss = CoxPartialLikelihoodLoss(ties="efron", name="cox")
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert isinstance(restored, CoxPartialLikelihoodLoss)
    assert restored.ties == "efron" and restored.name == "cox"
    assert CoxPartialLikelihoodLoss.from_config(loss.get_config()).ties == "efron"


def test_loss_class_fits_linear_cox_model():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(200, 1)).astype("float32")
    time = rng.exponential(np.exp(-1.5 * x[:, 0])).astype("float32")
    event = (rng.random(200) < 0.8).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False)])
    model.compile(optimizer=keras.optimizers.Adam(0.1), loss=CoxPartialLikelihoodLoss("efron"))
    history = model.fit(x, np.stack([time, event], 1), batch_size=200, epochs=40, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert float(_numpy(model.weights[0])[0, 0]) == pytest.approx(1.5, abs=0.4)
