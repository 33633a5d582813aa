"""Tests for npc_lib.plots.replication (distribution of numbers over a study's replicates)."""

import numpy as np
import pytest

from npc_lib.plots import figure_html
from npc_lib.plots.replication import plot_replicate_distribution


def test_plot_replicate_distribution_points_and_paper_ci():
    fig = plot_replicate_distribution({"C, A": [0.6, 0.7, np.nan, 0.65], "C, B": [0.7, 0.72]},
                                      {"C, A": (0.71, 0.66, 0.76), "C, B": (0.8, np.nan, np.nan), "other": (1, 0, 2)},
                                      title="C-index", x_title="C")
    boxes = [t for t in fig.data if t.type == "box"]
    assert [list(b.x) for b in boxes] == [[0.6, 0.7, 0.65], [0.7, 0.72]]  # NaN left out
    paper = [t for t in fig.data if t.type == "scatter"][0]
    assert list(paper.y) == ["C, A", "C, B"]  # a label without replicates is not drawn
    assert list(paper.error_x.array) == pytest.approx([0.05, 0.0]) and list(paper.error_x.arrayminus) == pytest.approx(
        [0.05, 0.0])
    assert "cdn.plot.ly" not in figure_html(fig)


def test_plot_replicate_distribution_without_paper_or_values():
    fig = plot_replicate_distribution({"HR": [np.nan]})
    assert len(fig.data) == 1 and len(fig.data[0].x) == 0
    with pytest.raises(ValueError, match="non-empty mapping"):
        plot_replicate_distribution({})
