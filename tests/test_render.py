import json

import plotly.graph_objects as go
import pytest

from npc_lib.plots import figure_html, plotly_js_path, save_figure
from npc_lib.plots.render import _OfflineFigure


def _fig():
    return go.Figure(go.Scatter(x=[0, 1, 2], y=[2, 1, 3]), layout=dict(title="t"))


def test_figure_html_no_network_script():
    html = figure_html(_fig())
    assert "Plotly.newPlot" in html
    assert "<script src=" not in html
    assert "cdn" not in html.lower()


def test_offline_figure_mimebundle_has_html_and_json():
    bundle = _OfflineFigure(_fig())._repr_mimebundle_()
    assert set(bundle) >= {"text/html", "application/vnd.plotly.v1+json", "text/plain"}
    assert bundle["application/vnd.plotly.v1+json"]["data"][0]["y"] == [2, 1, 3]
    json.dumps(bundle["application/vnd.plotly.v1+json"])


def test_save_figure_writes_offline_html(tmp_path):
    out = save_figure(_fig(), tmp_path / "f.html")
    text = out.read_text()
    assert '<script src="plotly.min.js"' in text or "plotly.min.js" in text
    assert "cdn.plot.ly" not in text
    assert (tmp_path / "plotly.min.js").stat().st_size == plotly_js_path().stat().st_size
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_save_figure_rejects_other_suffix(tmp_path):
    with pytest.raises(ValueError, match="path: a figure is saved as .html"):
        save_figure(_fig(), tmp_path / "f.png")
