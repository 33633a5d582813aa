"""Offline rendering of plotly figures for notebooks, the book and run folders.

The book serves ``plotly.min.js`` from its own ``_static`` folder, so figure
outputs carry only a ``<div>`` and a call to the global ``Plotly`` object: no
CDN, no require.js. Saved figures get ``plotly.min.js`` copied beside them.
"""

from __future__ import annotations

__all__ = ["plotly_js_path", "figure_html", "show", "save_figure", "save_table"]

import shutil
from pathlib import Path

from .._io import atomic_path, write_csv

_CONFIG = {"displaylogo": False, "responsive": True}


def plotly_js_path() -> Path:
    """The ``plotly.min.js`` bundled with the installed plotly package."""
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():  # pragma: no cover - depends on the plotly build
        raise FileNotFoundError(f"plotly.min.js not found in the plotly package: {path}")
    return path


def figure_html(fig) -> str:
    """The figure as an HTML fragment that expects a global ``Plotly`` (no script download).

    Examples
    --------
    >>> import plotly.graph_objects as go
    >>> html = figure_html(go.Figure(go.Scatter(x=[0, 1], y=[1, 2])))
    >>> "Plotly.newPlot" in html and "cdn" not in html
    True
    """
    import plotly.graph_objects as go
    import plotly.io as pio

    fig = go.Figure(fig)  # a copy: the page decides the width
    fig.update_layout(width=None, autosize=True)
    return pio.to_html(fig, include_plotlyjs=False, full_html=False, config=_CONFIG, default_width="100%")


class _OfflineFigure:
    """Notebook display object: HTML for the book, plotly JSON for JupyterLab."""

    def __init__(self, fig):
        self._fig = fig

    def _repr_mimebundle_(self, include=None, exclude=None):
        import json

        import plotly.io as pio

        return {
            "text/html": figure_html(self._fig),
            "application/vnd.plotly.v1+json": json.loads(pio.to_json(self._fig, validate=False)),
            "text/plain": f"<plotly figure: {self._fig.layout.title.text or 'untitled'}>",
        }


def show(fig):
    """Display ``fig`` in a notebook without loading plotly.js from the network."""
    from IPython.display import display

    display(_OfflineFigure(fig))


def save_figure(fig, path: str | Path) -> Path:
    """Write ``fig`` as a standalone offline HTML file (``plotly.min.js`` beside it).

    Parameters
    ----------
    fig : plotly Figure
    path : path-like
        Target ``.html`` file; written atomically.
    """
    path = Path(path)
    if path.suffix != ".html":
        raise ValueError(f"path: a figure is saved as .html, got {path.name!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    js = path.parent / "plotly.min.js"
    if not js.exists():
        with atomic_path(js) as tmp:
            shutil.copyfile(plotly_js_path(), tmp)
    with atomic_path(path) as tmp:
        fig.write_html(tmp, include_plotlyjs="directory", full_html=True, config=_CONFIG)
    return path


def save_table(df, path: str | Path, **kwargs) -> Path:
    """Write a table as CSV atomically (index kept only if asked)."""
    return write_csv(df, path, **kwargs)
