"""A child that fails: what reads its data does not start, and the summary says why."""

from __future__ import annotations

import time

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.faults]


def test_a_failed_child_stops_what_reads_it_and_the_summary_names_it(platform, record, earlier):
    landed = platform.counts(earlier.start, earlier.end)  # what was built before the fault
    began = time.monotonic()
    run = platform.cli("run", "--start", "2000-01-01", "--end", "2000-01-02")
    seconds = time.monotonic() - began
    assert run.returncode == 1 and "raw-data-jaffle-shop 2000-01-01..2000-01-02' of deployment" in run.stdout
    parent = platform.runs_named("data-platform 2000-01-01..2000-01-02")[0]
    assert set(platform.children(parent.id)) == {"raw-data-jaffle-shop", "raw-data-marketing"}
    summary = platform.summary(parent.id)
    assert "**Outcome:** failed: child run 'raw-data-jaffle-shop" in summary
    # not started, and why: the child whose data it reads did not complete
    assert "| dbt-jaffle-shop | not started | raw-data-jaffle-shop did not complete |" in summary
    after = platform.counts(earlier.start, earlier.end)
    assert after == landed
    record(
        "3 a child that fails",
        passed=True,
        seconds_start_to_parent_failed=round(seconds, 1),
        rows_lost=landed["warehouse"] - after["warehouse"],
        rows_duplicated=after["duplicates"],
    )
