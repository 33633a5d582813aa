"""Warnings and errors as notes (npc_lib.stats.capture)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from npc_lib.stats.capture import attempt, join_notes, quietly


# --------------------------------------------------------------------------- warnings as notes


def test_quietly_records_runtime_warnings_once():
    def noisy():
        for _ in range(3):
            warnings.warn("monotone", RuntimeWarning)
        np.float64(1.0) / np.float64(0.0)
        return 7

    assert quietly(noisy) == (7, ["monotone"])


def test_attempt_turns_value_error_into_note():
    def bad():
        raise ValueError("t=60 is beyond the last follow-up time")

    assert attempt(bad) == (None, ["t=60 is beyond the last follow-up time"])
    with pytest.raises(TypeError):
        attempt(lambda: 1 + "a")


def test_join_notes_deduplicates_in_order():
    assert join_notes(["b", "", "a", "b"]) == "b; a" and join_notes([]) == ""
