"""A landing held up from outside holds back only what reads it."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from datetime import date

import pytest

from .harness import RUN_BOUND, child_running, finish, parent_of, rows_against_lake, run_processes, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.faults]


def test_a_build_starts_once_what_it_reads_has_landed_while_a_landing_it_does_not_read_is_held(
    platform, record
):
    """The parent follows the declared datasets: dbt-jaffle-shop reads the jaffle_shop landing only, so a
    marketing landing held up from outside (its process stopped) holds back only what reads it."""
    start, end = date(2024, 9, 1), date(2024, 9, 14)  # after every other window: its own days
    name = f"data-platform {start}..{end}"
    run = platform.start("run", "--start", start.isoformat(), "--end", end.isoformat())
    parent = parent_of(platform, name)

    def marketing_processes():
        runs = platform.children(parent.id).get("raw-data-marketing", [])
        return run_processes(runs[-1].id) if runs else None

    stopped = wait_for("the marketing landing's processes", marketing_processes, RUN_BOUND, every=0.05)
    for pid in stopped:
        os.kill(pid, signal.SIGSTOP)
    held = time.monotonic()
    try:
        child_running(platform, parent.id, "dbt-jaffle-shop")
        marketing = platform.children(parent.id)["raw-data-marketing"][-1]
        assert not marketing.state.is_final(), marketing.state  # held: not landed (Submitting or Running)
        waiting = {n for n, runs in platform.children(parent.id).items() if runs}
        assert "dbt-attribution" not in waiting and "dashboards" not in waiting  # they read marketing
    finally:
        for pid in stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
    code, out = finish(run)
    assert code == 0, out
    kids = {n: runs[-1] for n, runs in platform.children(parent.id).items()}
    assert kids["dbt-jaffle-shop"].start_time < kids["raw-data-marketing"].end_time
    assert kids["dbt-attribution"].start_time >= kids["raw-data-marketing"].end_time
    assert all(k.state.is_completed() for k in kids.values()) and len(kids) == 6
    counts = platform.counts(start, end)
    assert counts["warehouse"] == counts["lake"] > 0 and counts["duplicates"] == 0
    record(
        "5 a landing held up holds back only what reads it",
        passed=True,
        seconds_held_before_dbt_ran=round(time.monotonic() - held, 1),
        dbt_started_before_marketing_ended_s=round(
            (kids["raw-data-marketing"].end_time - kids["dbt-jaffle-shop"].start_time).total_seconds(), 1
        ),
        **rows_against_lake(counts),
    )
