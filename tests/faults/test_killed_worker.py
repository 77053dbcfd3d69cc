"""A worker and its flow run killed mid-child: the parent fails naming the child, the slot is freed
and a resume completes the run."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from datetime import date

import pytest

from .harness import (
    CRASH_BOUND,
    RUN_BOUND,
    child_running,
    final,
    finish,
    flow_run_processes,
    parent_of,
    rows_against_lake,
    slot_freed,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.faults]


def test_a_killed_worker_and_flow_run_fail_the_parent_by_name_and_free_the_slot(platform, record):
    start, end = date(2024, 5, 1), date(2024, 5, 4)
    run = platform.start("run", "--start", start.isoformat(), "--end", end.isoformat())
    parent = parent_of(platform, f"data-platform {start}..{end}")
    dbt = child_running(platform, parent.id, "dbt-jaffle-shop")
    # its first heartbeat is recorded: the crash automation now watches it
    wait_for("the dbt run's first heartbeat", lambda: platform.heartbeats(dbt.id), RUN_BOUND)
    assert platform.warehouse_slots() == 1  # the dbt build holds the warehouse slot itself

    victims = flow_run_processes(dbt.id)
    assert victims, "the dbt flow run's process was not found"
    os.killpg(platform.pid("worker-dbt-transform"), signal.SIGKILL)
    for pid in victims:
        with contextlib.suppress(ProcessLookupError):  # gone with the worker's process group
            os.kill(pid, signal.SIGKILL)
    fault = time.monotonic()

    ended = final(platform, parent.id, CRASH_BOUND)
    seconds = time.monotonic() - fault
    code, out = finish(run)
    assert ended.state.is_failed(), ended.state
    assert "dbt-jaffle-shop" in ended.state.message and "ended Crashed" in ended.state.message
    assert platform.read(dbt.id).state.name == "Crashed"
    assert code == 1 and "ended Crashed" in out
    summary = platform.summary(parent.id)
    assert "**Outcome:** failed: child run 'dbt-jaffle-shop" in summary
    assert "| dbt-attribution | not started |" in summary and "| dashboards | not started |" in summary
    slot_freed(platform)

    again = platform.cli("up", "--paused-schedules")
    assert again.returncode == 0 and "started pid" in again.stdout
    assert "for pool dbt-transform" in again.stdout
    resumed = platform.cli("run", "--resume", str(parent.id))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    kids = platform.children(parent.id)
    assert len(kids["raw-data-jaffle-shop"]) == 1 and len(kids["dbt-jaffle-shop"]) == 2
    counts = platform.counts(start, end)
    assert counts["lake"] > 0 and counts["warehouse"] == counts["lake"] and counts["duplicates"] == 0
    record(
        "1 worker and flow run killed mid-child",
        passed=True,
        seconds_fault_to_parent_terminal=round(seconds, 1),
        parent_state=ended.state.name,
        **rows_against_lake(counts),
    )
