"""Tests for npc_lib.plots.forest (subgroup forest plot, Fig. D2)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from npc_lib.plots import figure_html, save_figure
from npc_lib.plots.forest import forest_rows, plot_subgroup_forest
from npc_lib.stats.subgroups import subgroup_analysis


def _analysis(seed: int = 0, n: int = 200):
    rng = np.random.default_rng(seed)
    d = pd.DataFrame({"group": rng.integers(0, 2, n), "sex": rng.choice(["Male", "Female"], n),
                      "smoking": pd.Categorical(rng.choice(["Yes", "No"], n), categories=["Yes", "No"])})
    t = rng.exponential(np.exp(-1.2 * d["group"]))
    c = rng.exponential(2.0, n)
    d["time"], d["event"] = np.minimum(t, c), (t <= c).astype(int)
    d.loc[(d.sex == "Female") & (d.group == 1), "event"] = 0          # a not-estimable level
    return subgroup_analysis(d, ["sex", "smoking"])


def test_forest_rows_headers_levels_and_texts():
    res = _analysis()
    rows = forest_rows(res.levels, res.interactions, {"sex": "Sex"})
    assert rows["kind"].tolist() == ["header", "level", "level", "header", "level", "level"]
    assert rows["label"][0].startswith("Sex (interaction p") and rows["label"][3].startswith("smoking")
    female = rows[rows.label == "Female"].iloc[0]
    lv = res.levels.set_index("level").loc["Female"]
    assert np.isnan(female.hr) and female.text == f"high 0/{lv.n_high}, low {lv.events_low}/{lv.n_low}: not estimable"
    male = rows[rows.label == "Male"].iloc[0]
    assert male.hr == pytest.approx(res.levels.set_index("level").loc["Male", "hr"])
    assert f"{male.hr:.2f} (" in male.text


def test_plot_subgroup_forest_draws_estimable_rows_only_and_the_claim():
    res = _analysis()
    claim = "Paper: remained significant in every subgroup"
    fig = plot_subgroup_forest(res.levels, res.interactions, claim=claim)
    drawn = sum(len(tr.x) for tr in fig.data)
    assert drawn == int(res.levels["estimable"].sum())
    texts = [a.text for a in fig.layout.annotations]
    assert claim in texts and any("not estimable" in t for t in texts)
    labels = list(fig.layout.yaxis.ticktext)
    assert len(labels) == 6 and labels.count("    Yes") == 1        # duplicate level names stay apart
    html = figure_html(fig)
    assert "Plotly.newPlot" in html and "cdn.plot.ly" not in html


def test_plot_subgroup_forest_saves_offline(tmp_path):
    res = _analysis(seed=1)
    path = save_figure(plot_subgroup_forest(res.levels), tmp_path / "forest.html")
    assert path.is_file() and (tmp_path / "plotly.min.js").is_file()


def test_plot_subgroup_forest_bad_input():
    res = _analysis()
    with pytest.raises(ValueError, match=r"levels: missing column\(s\) \['hr'\]"):
        plot_subgroup_forest(res.levels.drop(columns="hr"))
    two = pd.concat([res.levels.assign(cohort="train"), res.levels.assign(cohort="test")])
    with pytest.raises(ValueError, match="more than one cohort"):
        plot_subgroup_forest(two)
    with pytest.raises(ValueError, match="interactions: needs columns"):
        plot_subgroup_forest(res.levels, res.interactions.drop(columns="p"))
    with pytest.raises(ValueError, match="alpha"):
        plot_subgroup_forest(res.levels, alpha=2)
