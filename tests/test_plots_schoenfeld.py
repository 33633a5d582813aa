"""Tests of npc_lib.plots.schoenfeld: scaled Schoenfeld residual panels."""

import numpy as np
import pandas as pd
import pytest

from npc_lib.plots.schoenfeld import plot_scaled_schoenfeld, smooth_residuals
from npc_lib.stats import proportional_hazards_test, scaled_schoenfeld_residuals


@pytest.fixture
def frame():
    rng = np.random.default_rng(2)
    d = pd.DataFrame({"x": rng.normal(size=150), "z": rng.integers(0, 2, 150).astype(float)})
    d["t"] = rng.exponential(np.exp(-0.6 * d.x))
    d["e"] = (rng.uniform(size=150) < 0.8).astype(int)
    return d


def test_plot_scaled_schoenfeld_panels_and_titles(frame):
    res = scaled_schoenfeld_residuals(frame, "t", "e", ["x", "z"])
    test = proportional_hazards_test(frame, "t", "e", ["x", "z"])
    fig = plot_scaled_schoenfeld(res, test=test, labels={"x": "marker"})
    titles = [a.text for a in fig.layout.annotations]
    assert titles[0].startswith("marker (p ") and titles[1].startswith("z (p ")
    assert len(fig.data) == 6  # residuals, smooth, beta line per covariate
    assert np.allclose(fig.data[2].y, [res.beta["x"]] * 2)


def test_smooth_residuals_follows_a_trend():
    x = np.linspace(0, 1, 200)
    gx, gy = smooth_residuals(x, 2 * x, n_grid=11)
    assert np.allclose(gy, 2 * gx, atol=1e-6)
    with pytest.raises(ValueError, match="equal length"):
        smooth_residuals([0, 1], [1, 2])


def test_plot_scaled_schoenfeld_bad_input():
    with pytest.raises(ValueError, match="ScaledSchoenfeld"):
        plot_scaled_schoenfeld(object())
