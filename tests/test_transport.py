"""Transport measures (calibration slope, O/E, Poisson calibration, baseline update) against R
(run_external.R: survival 3.5-3 and glm) and against naive versions."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from npc_lib import stats

DATA = Path(__file__).parent / "data"


def _breslow_naive(time, event, w, at):
    """run_external.R's breslow(): a loop over distinct event times and evaluation times."""
    out = []
    for s in at:
        h = 0.0
        for u in sorted(set(time[event == 1])):
            if u <= s:
                h += event[time == u].sum() / w[time >= u].sum()
        out.append(h)
    return np.array(out)


@pytest.fixture(scope="module", params=["lung", "veteran"])
def external(request):
    """R's reference and the two halves rebuilt: dev = rows [0::2], validation = rows [1::2]."""
    ds = request.param
    ref = json.loads((DATA / f"{ds}_external.json").read_text())
    d = pd.read_csv(DATA / f"{ds}.csv")
    dev, val = d.iloc[0::2], d.iloc[1::2]
    beta = np.asarray(ref["beta"])
    lp_dev = dev[ref["fixed_covariates"]].to_numpy(float) @ beta
    lp = val[ref["fixed_covariates"]].to_numpy(float) @ beta
    return {"ref": ref, "dev": dev, "lp_dev": lp_dev, "time": val["time"].to_numpy(),
            "event": val["status"].to_numpy(), "lp": lp}


def _h0_dev(x, at):
    """R's H0_dev: plain Breslow of the development half at lp = 0."""
    return stats.update_baseline(x["dev"]["time"], x["dev"]["status"], x["lp_dev"], at).cumhaz


def test_external_halves_rebuild_r_inputs(external):
    ref = external["ref"]
    assert (len(external["dev"]), len(external["lp"])) == (ref["n_dev"], ref["n_val"])
    np.testing.assert_allclose(external["lp"], ref["lp_val"], rtol=1e-12)
    np.testing.assert_array_equal(external["time"], ref["time_val"])
    np.testing.assert_array_equal(external["event"], ref["status_val"])


def test_calibration_slope_equals_r(external):
    r = external["ref"]["calibration_slope"]
    s = stats.calibration_slope(external["time"], external["event"], external["lp"])
    for k in ("slope", "lower", "upper"):
        assert getattr(s, k) == pytest.approx(r[k], rel=1e-6), k
    assert s.se == pytest.approx(r["se"], rel=1e-4)
    assert (s.n, s.n_events) == (len(external["time"]), int(external["event"].sum()))


def test_observed_expected_equals_r(external):
    lp = external["lp"]
    for r in external["ref"]["observed_expected"].values():
        risk = 1 - np.exp(-_h0_dev(external, [r["t"]])[0] * np.exp(lp))
        np.testing.assert_allclose(risk[:5], r["predicted_risk_first5"], rtol=1e-6)
        oe = stats.observed_expected(external["time"], external["event"], risk, r["t"])
        for k in ("t", "observed", "expected", "ratio", "lower", "upper"):
            assert getattr(oe, k) == pytest.approx(r[k], rel=1e-6), k
        assert oe.se_log_observed == pytest.approx(r["se_log_observed"], rel=1e-4)


def test_poisson_calibration_equals_r(external):
    r = external["ref"]["poisson_calibration"]
    expected = _h0_dev(external, external["time"]) * np.exp(external["lp"])
    np.testing.assert_allclose(expected[:5], r["expected_first5"], rtol=1e-6)
    p = stats.poisson_calibration(external["event"], expected, external["lp"])
    for k in ("citl", "slope"):
        assert getattr(p, k) == pytest.approx(r[k], rel=1e-6), k
    for k in ("citl_se", "slope_se"):
        assert getattr(p, k) == pytest.approx(r[k], rel=1e-4), k
    assert (p.n_dropped, p.events_dropped) == (r["n_dropped"], r["events_dropped"])


def test_update_baseline_equals_r(external):
    ub = external["ref"]["update_baseline"]
    fitted = stats.calibration_slope(external["time"], external["event"], external["lp"]).slope
    for name, slope in (("one", 1.0), ("fitted", fitted)):
        r = ub[name]
        h = stats.update_baseline(external["time"], external["event"], external["lp"], r["times"], slope=slope)
        np.testing.assert_allclose(h.cumhaz, r["cumhaz"], rtol=1e-6)
        np.testing.assert_allclose(h.cumhaz, r["cumhaz_survfit"], rtol=1e-6)
        np.testing.assert_array_equal(h.times, r["times"])
        assert h.slope == pytest.approx(r["slope"], rel=1e-6)


# --------------------------------------------------------------------------- naive versions


def _tied_data(n=60, seed=3):
    rng = np.random.default_rng(seed)
    lp = rng.normal(size=n)
    time = np.ceil(rng.exponential(10 * np.exp(-lp)))            # integer times: many ties
    event = (rng.random(n) < 0.7).astype(int)
    return time, event, lp


def test_update_baseline_matches_naive_breslow_with_ties():
    time, event, lp = _tied_data()
    at = np.array([0.0, 0.5, 1, 3, 3.5, 7, 12, np.max(time), np.max(time) + 5])
    for slope in (1.0, 0.6, -0.4):
        h = stats.update_baseline(time, event, lp, at[::-1], slope=slope)
        np.testing.assert_allclose(h.cumhaz, _breslow_naive(time, event, np.exp(slope * lp), at[::-1]),
                                   rtol=1e-12, atol=0)
    assert stats.update_baseline(time, event, lp, [0.0, 0.5]).cumhaz.tolist() == [0.0, 0.0]   # before any event


def test_update_baseline_large_linear_predictor_no_overflow():
    time, event, lp = _tied_data()
    base = stats.update_baseline(time, event, lp, [5, 20]).cumhaz
    shifted = stats.update_baseline(time, event, lp + 600.0, [5, 20]).cumhaz   # exp(600 + ...) overflows alone
    np.testing.assert_allclose(shifted * np.exp(600.0), base, rtol=1e-9)


def test_calibration_slope_matches_statsmodels_phreg_and_scales():
    from statsmodels.duration.hazard_regression import PHReg

    time, event, lp = _tied_data()
    s = stats.calibration_slope(time, event, lp)
    ph = PHReg(time, lp[:, None], status=event, ties="efron").fit()
    assert s.slope == pytest.approx(float(ph.params[0]), rel=1e-6)
    assert s.se == pytest.approx(float(ph.bse[0]), rel=1e-4)
    half = stats.calibration_slope(time, event, 2 * lp - 5)   # centring irrelevant, scale divides
    assert (half.slope, half.se) == pytest.approx((s.slope / 2, s.se / 2), rel=1e-8)


def _km_naive(time, event, t):
    s, var = 1.0, 0.0
    for u in sorted(set(time[event == 1])):
        if u <= t:
            n, d = (time >= u).sum(), ((time == u) & (event == 1)).sum()
            s *= 1 - d / n
            var += d / (n * (n - d)) if n > d else np.inf
    return s, var


def test_observed_expected_matches_naive_kaplan_meier():
    time, event, lp = _tied_data()
    risk = 1 / (1 + np.exp(-lp))
    for t in (2, 4.5, 10):
        oe = stats.observed_expected(time, event, risk, t)
        s, var = _km_naive(time, event, t)
        assert oe.observed == pytest.approx(1 - s, rel=1e-12)
        assert oe.expected == pytest.approx(risk.mean(), rel=1e-12)
        se_log_o = s * np.sqrt(var) / (1 - s)
        assert oe.se_log_observed == pytest.approx(se_log_o, rel=1e-12)
        assert (oe.lower, oe.upper) == pytest.approx(
            (oe.ratio * np.exp(-1.959963984540054 * se_log_o), oe.ratio * np.exp(1.959963984540054 * se_log_o)),
            rel=1e-12)


def test_observed_expected_degenerate_observed_zero_and_one():
    oe = stats.observed_expected([3, 4, 5, 6], [0, 0, 1, 1], [0.1, 0.2, 0.2, 0.3], 4)
    assert (oe.observed, oe.ratio) == (0.0, 0.0)
    assert np.isnan(oe.lower) and np.isnan(oe.upper) and np.isnan(oe.se_log_observed)
    oe = stats.observed_expected([1, 2, 3, 3], [1, 1, 1, 1], [0.5, 0.6, 0.7, 0.8], 3)   # S(3) = 0
    assert oe.observed == 1.0 and oe.ratio == pytest.approx(1 / 0.65)
    assert np.isnan(oe.lower) and np.isnan(oe.upper)


def _poisson_newton(y, X, offset, iters=50):
    """A Poisson GLM by plain Newton-Raphson from 0, iterated to convergence."""
    b = np.zeros(X.shape[1])
    for _ in range(iters):
        mu = np.exp(X @ b + offset)
        b = b + np.linalg.solve((X * mu[:, None]).T @ X, X.T @ (y - mu))
    mu = np.exp(X @ b + offset)
    return b, np.sqrt(np.diag(np.linalg.inv((X * mu[:, None]).T @ X)))


def _poisson_case(seed=5, n=80):
    rng = np.random.default_rng(seed)
    lp = rng.normal(size=n)
    expected = rng.exponential(0.8, size=n) * np.exp(0.5 * lp)
    event = (rng.random(n) < 1 - np.exp(-1.3 * expected)).astype(int)
    return event, expected, lp


def test_poisson_calibration_matches_naive_newton_and_closed_form():
    event, expected, lp = _poisson_case()
    p = stats.poisson_calibration(event, expected, lp)
    one = np.ones((lp.size, 1))
    (c,), (c_se,) = _poisson_newton(event, one, np.log(expected))
    b, se = _poisson_newton(event, np.column_stack([one, lp]), np.log(expected) - lp)
    assert c == pytest.approx(np.log(event.sum() / expected.sum()), rel=1e-10)  # the closed form
    assert c_se == pytest.approx(1 / np.sqrt(event.sum()), rel=1e-10)
    assert (p.citl, p.slope) == pytest.approx((c, b[1]), rel=1e-6)
    # R's glm stops at a relative deviance change of 1e-8; its SEs come from the last weights
    assert (p.citl_se, p.slope_se) == pytest.approx((c_se, se[1]), rel=1e-3)
    assert (p.n, p.n_events, p.n_dropped, p.events_dropped) == (80, int(event.sum()), 0, 0)


def test_poisson_calibration_drops_zero_expected_like_a_glm_on_kept_rows():
    from statsmodels.genmod.families import Poisson
    from statsmodels.genmod.generalized_linear_model import GLM

    event, expected, lp = _poisson_case(seed=8)
    zero = np.arange(lp.size) % 9 == 0                        # followed up before the first dev event
    expected[zero] = 0.0
    event[np.flatnonzero(zero)[:3]] = 1
    p = stats.poisson_calibration(event, expected, lp)
    keep = ~zero
    assert (p.n_dropped, p.events_dropped) == (int(zero.sum()), int(event[zero].sum()))
    assert (p.n, p.n_events) == (int(keep.sum()), int(event[keep].sum()))
    y, mu, x = event[keep], expected[keep], lp[keep]
    g1 = GLM(y, np.ones((y.size, 1)), family=Poisson(), offset=np.log(mu)).fit(tol=1e-13)
    g2 = GLM(y, np.column_stack([np.ones(y.size), x]), family=Poisson(), offset=np.log(mu) - x).fit(tol=1e-13)
    assert (p.citl, p.slope) == pytest.approx((g1.params[0], g2.params[1]), rel=1e-6)
    assert (p.citl_se, p.slope_se) == pytest.approx((g1.bse[0], g2.bse[1]), rel=1e-3)
    kept = stats.poisson_calibration(y, mu, x)                # same fits as on the kept rows alone
    assert (kept.citl, kept.citl_se, kept.slope, kept.slope_se) == (p.citl, p.citl_se, p.slope, p.slope_se)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("call, match", [
    (lambda: stats.calibration_slope([1, 2, 3], [1, 0], [0.1, 0.2, 0.3]), "time and event lengths differ"),
    (lambda: stats.calibration_slope([1, 2, 3], [0, 0, 0], [0.1, 0.2, 0.3]), "event has no events"),
    (lambda: stats.calibration_slope([1, 2, 3], [1, 0, 1], [0.1, 0.1, 0.1]), "lp is constant"),
    (lambda: stats.calibration_slope([1, 2, 3], [1, 0, 1], [0.1, np.nan, 0.3]), "lp contains NaN"),
    (lambda: stats.calibration_slope([1, -2, 3], [1, 0, 1], [0.1, 0.2, 0.3]), "time contains negative"),
    (lambda: stats.observed_expected([1, 2, 3], [1, 0, 1], [0.1, 1.2, 0.3], 2), "predicted_risk must lie in"),
    (lambda: stats.observed_expected([1, 2, 3], [1, 0, 1], [0.1, 0.2], 2), "predicted_risk length 2"),
    (lambda: stats.observed_expected([1, 2, 3], [1, 0, 1], [0.1, 0.2, 0.3], 5), r"t=5 is beyond"),
    (lambda: stats.observed_expected([1, 2, 3], [1, 0, 1], [0.1, 0.2, 0.3], 0), "t must be a positive"),
    (lambda: stats.observed_expected([1, 2, 3], [1, 0, 1], [0, 0, 0], 2), "predicted_risk is 0 for every"),
    (lambda: stats.observed_expected([1, 2, 3], [1, 2, 1], [0.1, 0.2, 0.3], 2), "event must be 0/1"),
    (lambda: stats.poisson_calibration([1, 0, 1], [0.5, -0.1, 0.3], [1, 2, 3]), "expected contains negative"),
    (lambda: stats.poisson_calibration([1, 0, 1], [0.5, np.inf, 0.3], [1, 2, 3]), "expected contains NaN"),
    (lambda: stats.poisson_calibration([1, 0], [0.5, 0.2, 0.3], [1, 2, 3]), "expected and event lengths"),
    (lambda: stats.poisson_calibration([1, 0, 1], [0.0, 0.2, 0.0], [1, 2, 3]), "no events among the patients"),
    (lambda: stats.poisson_calibration([1, 0, 1], [0.5, 0.2, 0.0], [1, 1, 3]), "lp is constant among"),
    (lambda: stats.update_baseline([1, 2, 3], [1, 0, 1], [0, 1, 2], [-1, 2]), "times contains negative"),
    (lambda: stats.update_baseline([1, 2, 3], [1, 0, 1], [0, 1, 2], [1], slope=np.nan), "slope must be finite"),
    (lambda: stats.update_baseline([1, 2, 3], [1, 0, 1], [0, 1, 2], [1], slope="a"), "slope must be a number"),
    (lambda: stats.update_baseline([1, 2, 3], [1, 0, 1], [0, 1], [1]), "lp length 2"),
])
def test_transport_bad_input_names_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_transport_near_equal_times_are_ties_as_r_timefix():
    time, event, lp = _tied_data()
    jitter = time * (1 + 1e-13 * (np.arange(time.size) % 3))      # floating-point noise, e.g. unit conversion
    risk = 1 / (1 + np.exp(-lp))
    a, b = stats.calibration_slope(time, event, lp), stats.calibration_slope(jitter, event, lp)
    assert (b.slope, b.se) == pytest.approx((a.slope, a.se), rel=1e-10)
    a, b = stats.observed_expected(time, event, risk, 6.5), stats.observed_expected(jitter, event, risk, 6.5)
    assert (b.observed, b.se_log_observed) == pytest.approx((a.observed, a.se_log_observed), rel=1e-10)
    a, b = stats.update_baseline(time, event, lp, [3.5, 9.5]), stats.update_baseline(jitter, event, lp, [3.5, 9.5])
    np.testing.assert_allclose(b.cumhaz, a.cumhaz, rtol=1e-10)


def test_poisson_calibration_warns_when_the_glm_does_not_converge(monkeypatch):
    from npc_lib.stats import transport

    event, expected, lp = _poisson_case()
    monkeypatch.setattr(transport, "_GLM_MAXIT", 2)               # R's glm.control(maxit = 2)
    with pytest.warns(RuntimeWarning, match="did not converge in 2 iterations"):
        stats.poisson_calibration(event, expected, lp)
