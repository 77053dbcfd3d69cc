"""jaffle_contract.window."""

from __future__ import annotations

from datetime import date

import pytest
from jaffle_contract.window import Window, resolve_window, trailing_window, yesterday


def test_an_empty_date_is_the_other_one_or_yesterday_decided_at_call_time():
    today = date(2024, 3, 2)
    assert resolve_window(None, None, today=today) == Window(date(2024, 3, 1), date(2024, 3, 1))
    assert resolve_window(date(2024, 1, 5), None) == Window(date(2024, 1, 5), date(2024, 1, 5))
    assert resolve_window(None, date(2024, 1, 5)) == Window(date(2024, 1, 5), date(2024, 1, 5))
    assert yesterday(today) == date(2024, 3, 1)


def test_end_before_start_is_rejected_by_every_window():
    with pytest.raises(ValueError, match="end_date 2024-03-01 is before start_date 2024-03-05"):
        resolve_window(date(2024, 3, 5), date(2024, 3, 1))
    with pytest.raises(ValueError, match="end_date 2024-03-01 is before start_date 2024-03-05"):
        Window(date(2024, 3, 5), date(2024, 3, 1))


def test_a_trailing_window_ends_yesterday_and_spans_its_days_without_a_start():
    today = date(2024, 3, 2)
    assert trailing_window(None, None, 90, today=today) == Window(date(2023, 12, 3), date(2024, 3, 1))
    given_start = trailing_window(date(2024, 2, 1), None, 90, today=today)
    assert given_start == Window(date(2024, 2, 1), date(2024, 3, 1))
    assert trailing_window(None, date(2024, 1, 10), 3) == Window(date(2024, 1, 8), date(2024, 1, 10))
    with pytest.raises(ValueError, match="end_date 2024-03-01 is before start_date 2024-03-05"):
        trailing_window(date(2024, 3, 5), None, 90, today=today)
    with pytest.raises(ValueError, match="at least one day, not 0"):
        trailing_window(None, None, 0)


def test_a_window_is_its_days_its_parameters_and_its_name():
    window = Window(date(2024, 2, 28), date(2024, 3, 1))
    assert window.days == [date(2024, 2, 28), date(2024, 2, 29), date(2024, 3, 1)]
    assert window.parameters() == {"start_date": "2024-02-28", "end_date": "2024-03-01"}
    assert str(window) == "2024-02-28..2024-03-01" and str(Window(window.end, window.end)) == "2024-03-01"
