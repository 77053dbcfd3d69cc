"""The server killed and restarted a minute later mid-run: the run completes, no slot leaks, and the rows
are whole. (A longer outage ends in a clear failure that `./dev run --resume` completes: the partial
landing's and the killed worker's scenarios show that path.)"""

from __future__ import annotations

import os
import signal
import time
from datetime import date

import pytest

from .harness import child_running, final, finish, parent_of, rows_against_lake, slot_freed

pytestmark = [pytest.mark.integration, pytest.mark.faults]
OUTAGE_SECONDS = 60


def test_a_server_away_for_a_minute_mid_build_costs_the_run_nothing(platform, record):
    # As an upgrade or a host restart does: the server killed while dbt builds, and started again a minute
    # later. Every running flow run rides it out (client retries, heartbeats, the slot's lease, the
    # parent's wait): every child and the parent end Completed, the rows whole.
    start, end = date(2024, 5, 5), date(2024, 5, 7)
    run = platform.start("run", "--start", start.isoformat(), "--end", end.isoformat())
    parent = parent_of(platform, f"data-platform {start}..{end}")
    child_running(platform, parent.id, "dbt-jaffle-shop")
    os.killpg(platform.pid("server"), signal.SIGKILL)
    fault = time.monotonic()
    time.sleep(OUTAGE_SECONDS)  # the fault itself: the server stays down this long
    restarted = platform.cli("up", "--paused-schedules")
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    assert "server      started pid" in restarted.stdout

    ended = final(platform, parent.id)
    seconds = time.monotonic() - fault
    code, out = finish(run)
    children = {name: [r.state.name for r in runs] for name, runs in platform.children(parent.id).items()}
    assert ended.state.is_completed() and code == 0, (ended.state, children, out[-3000:])
    assert all(states == ["Completed"] for states in children.values()), children  # none rerun
    slot_freed(platform)
    counts = platform.counts(start, end)
    assert counts["warehouse"] == counts["lake"] > 0 and counts["duplicates"] == 0
    record(
        "2 server away for a minute mid-build",
        passed=True,
        seconds_fault_to_parent_terminal=round(seconds, 1),
        parent_state=ended.state.name,
        **rows_against_lake(counts),
    )
