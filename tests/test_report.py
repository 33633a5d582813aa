"""The book's number formatters (npc_lib.report)."""

from __future__ import annotations

import numpy as np
import pytest

from npc_lib.report import beside_paper, count_percent, format_ci, format_p, median_range


def test_format_p_paper_style():
    assert [format_p(p) for p in (0.0004, 0.001, 0.0183, 0.05, 0.7777)] == ["<0.001", "0.001", "0.018", "0.050",
                                                                            "0.778"]
    assert [format_p(p, 2) for p in (0.99, 0.18, 0.049, 0.004)] == ["0.99", "0.18", "0.05", "<0.01"]


def test_format_p_undefined_and_prefix():
    assert format_p(np.nan) == "NA" and format_p(None) == "NA" and format_p(np.inf) == "NA"
    assert format_p(np.nan, na="") == ""
    assert format_p(0.0001, prefix=True) == "p<0.001" and format_p(0.2, prefix=True) == "p=0.200"
    with pytest.raises(ValueError, match="digits must be a positive integer"):
        format_p(0.5, 0)


def test_format_ci_cases():
    assert format_ci(6.123, 3.72, 10.07, 2) == "6.12 (3.72-10.07)"
    assert format_ci(np.nan, 0, 1) == "NA" and format_ci(0.7, np.nan, 0.9) == "0.700"
    assert format_ci(np.float64(0.5), 0.4, 0.6) == "0.500 (0.400-0.600)"


def test_other_formatters():
    assert count_percent(81, 18.12) == "81 (18.1%)"
    assert median_range(5.456, 4.52, 6.5) == "5.46 (4.52-6.50)"
    assert beside_paper([("C", "0.771", "0.780")]).loc["C", "paper"] == "0.771"
    with pytest.raises(ValueError, match="each row must be"):
        beside_paper([("C", "0.771")])
