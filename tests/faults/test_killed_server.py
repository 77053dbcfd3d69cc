"""The server killed and restarted mid-run: the run ends, no slot leaks, and the rows are whole."""

from __future__ import annotations

import os
import signal
import time
from datetime import date

import pytest

from .harness import child_running, final, finish, parent_of, rows_against_lake, slot_freed

pytestmark = [pytest.mark.integration, pytest.mark.faults]


def test_a_server_killed_and_restarted_mid_run_ends_the_run_and_leaks_no_slot(platform, record):
    start, end = date(2024, 5, 5), date(2024, 5, 7)
    run = platform.start("run", "--start", start.isoformat(), "--end", end.isoformat())
    parent = parent_of(platform, f"data-platform {start}..{end}")
    child_running(platform, parent.id, "dbt-jaffle-shop")
    os.killpg(platform.pid("server"), signal.SIGKILL)
    fault = time.monotonic()
    time.sleep(5)  # the fault itself: the server stays down this long before it is restarted
    restarted = platform.cli("up", "--paused-schedules")
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    assert "server      started pid" in restarted.stdout

    ended = final(platform, parent.id)
    seconds = time.monotonic() - fault
    code, out = finish(run)
    assert code == (0 if ended.state.is_completed() else 1), out
    slot_freed(platform)
    if not ended.state.is_completed():  # the restart cost the run: resuming it completes it
        resumed = platform.cli("run", "--resume", str(parent.id))
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    nxt = platform.cli("run", "--start", end.isoformat(), "--end", end.isoformat())
    assert nxt.returncode == 0, nxt.stdout + nxt.stderr
    counts = platform.counts(start, end)
    assert counts["warehouse"] == counts["lake"] > 0 and counts["duplicates"] == 0
    record(
        "2 server killed and restarted mid-run",
        passed=True,
        seconds_fault_to_parent_terminal=round(seconds, 1),
        parent_state=ended.state.name,
        **rows_against_lake(counts),
    )
