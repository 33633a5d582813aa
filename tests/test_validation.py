"""The shared input validators of npc_lib.stats (npc_lib.stats._validation)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from npc_lib.stats._validation import (check_alpha, check_marker, check_probability, check_survival,
                                       check_time_point, check_times)


def test_check_survival_accepts_bool_int_float_object_and_series():
    for event in ([1, 0, 1], [True, False, True], [1.0, 0.0, 1.0], np.array([1, 0, 1], dtype=object),
                  pd.Series([1, 0, 1])):
        t, e = check_survival(pd.Series([3, 1, 2]), event)
        assert t.dtype == np.float64 and e.dtype == bool and e.tolist() == [True, False, True]


@pytest.mark.parametrize("time,event,kwargs,match", [
    ([1, 2, np.nan], [1, 0, 1], {}, "time contains NaN or infinite"),
    ([1, 2, np.inf], [1, 0, 1], {}, "time contains NaN or infinite"),
    ([1, -2, 3], [1, 0, 1], {}, "time contains negative"),
    ([1, 2, 3], [1, 0], {}, "time and event lengths differ: 3 vs 2"),
    ([1, 2, 3], [0, 0, 0], {}, "event has no events"),
    ([1, 2, 3], [1, 0, 0], {"min_events": 2}, "event has 1 events, fewer than 2"),
    ([1, 2, 3], [1, 2, 1], {}, "event must be 0/1 or boolean"),
    ([1, 2, 3], [1, np.nan, 1], {}, "event contains NaN"),
    ([1, 2, 3], ["a", "b", "c"], {}, "event must be 0/1 or boolean"),
    (["x", 2, 3], [1, 0, 1], {}, "time must be numeric"),
    ([[1, 2], [3, 4]], [1, 0], {}, "time must be 1-dimensional"),
    ([], [], {}, "time is empty"),
    ([1], [1], {"min_n": 2}, "time needs at least 2 subjects"),
    ([1, np.nan], [1, 0], {"name_time": "duration_col 't'"}, "duration_col 't' contains NaN"),
    ([1, 2], [0, 0], {"name_event": "event_col 'e'"}, "event_col 'e' has no events"),
])
def test_check_survival_bad_input_raises(time, event, kwargs, match):
    with pytest.raises(ValueError, match=match):
        check_survival(time, event, **kwargs)


def test_check_survival_min_events_zero_allows_no_events():
    t, e = check_survival([1, 2], [0, 0], min_events=0)
    assert not e.any()


def test_check_marker_rules():
    assert check_marker([1, 1], 2, allow_constant=True).tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="marker is constant"):
        check_marker([1, 1], 2, "marker")
    with pytest.raises(ValueError, match="risk length 1 differs from time length 2"):
        check_marker([1], 2)
    with pytest.raises(ValueError, match="risk contains NaN"):
        check_marker([1, np.nan], 2)


def test_check_probability_rules():
    with pytest.raises(ValueError, match="p must lie in"):
        check_probability([0.5, 1.5], 2, "p")
    with pytest.raises(ValueError, match="p length"):
        check_probability([0.5], 2, "p")


def test_check_times_and_time_point_rules():
    assert check_times([0, 5, 5, 7], increasing=True).tolist() == [0.0, 5.0, 5.0, 7.0]
    with pytest.raises(ValueError, match="times must be sorted"):
        check_times([3, 1], increasing=True)
    with pytest.raises(ValueError, match="times contains negative"):
        check_times([-1])
    with pytest.raises(ValueError, match="horizon=9 is beyond the last follow-up time"):
        check_times([1, 9], t_max=8, name="horizon")
    with pytest.raises(ValueError, match="t must be a positive"):
        check_time_point(0, np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="beyond the last follow-up"):
        check_time_point(3, np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"alpha must lie in \(0, 1\)"):
        check_alpha(1.0)
