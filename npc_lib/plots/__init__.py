"""Plots: plotly figures of the analyses, rendered offline."""

from .render import figure_html, plotly_js_path, save_figure, save_table, show

__all__ = ["figure_html", "plotly_js_path", "save_figure", "save_table", "show"]
