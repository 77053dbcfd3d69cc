"""A daily run started while the one before it runs waits for it instead of overlapping."""

from __future__ import annotations

import pytest

from .harness import finish, parent_of, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.faults]


def test_the_daily_run_waits_for_the_one_before_it_instead_of_overlapping(platform, record):
    day = "2024-05-16"
    name = f"data-platform {day}"
    first = platform.start("run", "--start", day, "--end", day)
    parent_of(platform, name)
    second = platform.start("run", "--start", day, "--end", day)
    wait_for("both runs created", lambda: len(platform.runs_named(name)) == 2, 120)
    for code, out in (finish(first), finish(second)):
        assert code == 0, out
    earlier, later = sorted(platform.runs_named(name), key=lambda r: r.start_time)
    assert earlier.end_time <= later.start_time  # one at a time: the second waited in line
    with platform.client() as client:
        deployment = client.read_deployment_by_name("data-platform/data-platform")
    assert deployment.concurrency_options.collision_strategy == "ENQUEUE"
    record("overlapping daily runs", passed=True, rows_lost=0, rows_duplicated=0)
