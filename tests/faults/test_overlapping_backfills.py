"""Two backfills of one range at once agree with one run of it and never hit a lock."""

from __future__ import annotations

import time
from datetime import date

import pytest

from .harness import finish, rows_against_lake

pytestmark = [pytest.mark.integration, pytest.mark.faults]


def test_two_overlapping_backfills_of_one_range_agree_and_never_hit_a_lock(platform, record):
    start, end = date(2024, 5, 14), date(2024, 5, 15)
    # One chunk each (6 cells): the two grids' cells overlap on every team at once.
    args = ("backfill", "--start", start.isoformat(), "--end", end.isoformat(), "--chunk-days", "2")
    began = time.monotonic()
    first, second = platform.start(*args), platform.start(*args)
    results = [finish(first), finish(second)]
    seconds = time.monotonic() - began
    for code, out in results:
        assert code == 0, out
        assert "lock" not in out.lower()
    counts = platform.counts(start, end)
    assert counts["warehouse"] == counts["lake"] > 0 and counts["duplicates"] == 0
    rerun = platform.cli("run", "--start", start.isoformat(), "--end", end.isoformat())
    assert rerun.returncode == 0
    assert platform.counts(start, end) == counts  # the same rows whether one run or three built them
    record(
        "6 two overlapping backfills of the same range",
        passed=True,
        seconds_both_backfills=round(seconds, 1),
        orders_in_lake=counts["lake"],
        orders_in_warehouse=counts["warehouse"],
        **rows_against_lake(counts),
    )
