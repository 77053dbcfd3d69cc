"""A parent cancelled while its children run cancels them and publishes nothing half-made."""

from __future__ import annotations

import time
from datetime import date

import pytest

from .harness import child_running, final, finish, parent_of, slot_freed

pytestmark = [pytest.mark.integration, pytest.mark.faults]


def test_a_cancelled_parent_cancels_its_children(platform, record, earlier):
    from prefect.states import Cancelling

    start, end = date(2024, 5, 10), date(2024, 5, 13)
    landed = platform.counts(earlier.start, earlier.end)  # what was built before the fault
    # The warehouse slot is taken from outside, so the dbt build is running and still waiting for it
    # when the cancel arrives, however fast this machine builds four days.
    with platform.holding_the_warehouse_slot():
        run = platform.start("run", "--start", start.isoformat(), "--end", end.isoformat())
        parent = parent_of(platform, f"data-platform {start}..{end}")
        dbt = child_running(platform, parent.id, "dbt-jaffle-shop")
        with platform.client() as client:  # what the UI's Cancel button sends
            client.set_flow_run_state(parent.id, Cancelling(message="cancelled from the UI"))
        fault = time.monotonic()
        ended = final(platform, parent.id)
    seconds = time.monotonic() - fault
    assert ended.state.name == "Cancelled", ended.state
    child = final(platform, dbt.id)
    assert child.state.name == "Cancelled", child.state
    code, _ = finish(run)
    assert code == 1
    kids = platform.children(parent.id)
    assert "dbt-attribution" not in kids and "dashboards" not in kids
    slot_freed(platform)
    after = platform.counts(earlier.start, earlier.end)  # the cancelled build published nothing half-made
    assert after == landed
    record(
        "5 parent cancelled while children run",
        passed=True,
        seconds_cancel_to_parent_cancelled=round(seconds, 1),
        child_state=child.state.name,
        rows_lost=landed["warehouse"] - after["warehouse"],
        rows_duplicated=after["duplicates"],
    )
