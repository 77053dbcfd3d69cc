"""Driving the grid with runs that complete, fail or crash: retries, blocking, the table it keeps."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date

from jaffle_coordinator import backfill, plan
from jaffle_coordinator.grid import Grid, Mode, State
from prefect.client.schemas.objects import FlowRun
from prefect.states import Completed, Crashed, Failed

CHUNKS = plan.chunks(plan.Window(date(2026, 1, 1), date(2026, 1, 14)), 7)  # 2 chunks


def fake_runs(failures: dict[str, int]):
    """A launcher whose runs complete, except the first `failures[cell name]` attempts of a cell."""
    calls: list[str] = []

    async def launch(cell) -> FlowRun:
        calls.append(cell.name)
        await asyncio.sleep(0.01)
        failing = failures.get(cell.name, 0)
        if failing:
            failures[cell.name] = failing - 1
            state = Crashed(message="killed") if failing % 2 else Failed(message="boom")
        else:
            state = Completed()
        return FlowRun(id=uuid.uuid4(), name=cell.name, flow_id=uuid.uuid4(), state=state)

    return launch, calls


def drive(grid: Grid, launch) -> list[list[dict]]:
    tables = []

    async def on_change(g: Grid) -> None:
        tables.append(backfill.rows(g))

    asyncio.run(backfill.drive(grid, launch, on_change))
    return tables


def test_a_backfill_runs_every_cell_and_its_table_ends_all_completed():
    grid = Grid(plan.CHILDREN, CHUNKS)
    grid.plan(Mode.ALL)
    launch, calls = fake_runs({})
    tables = drive(grid, launch)
    assert sorted(calls) == sorted(cell.name for cell in grid.cells.values())
    last = tables[-1]
    assert [row["child"] for row in last] == list(plan.CHILD_NAMES)
    assert all(value.startswith("✔ completed") for row in last for key, value in row.items() if ".." in key)
    assert backfill.done_fraction(grid) == 100.0


def test_a_run_that_crashes_once_is_retried_and_one_that_keeps_failing_blocks_what_needs_it():
    grid = Grid(plan.CHILDREN, CHUNKS, attempts=2, backoff_seconds=0.05)
    grid.plan(Mode.ALL)
    flaky, broken = "raw-data-marketing 2026-01-01..2026-01-07", "dbt-jaffle-shop 2026-01-08..2026-01-14"
    launch, calls = fake_runs({flaky: 1, broken: 9})
    drive(grid, launch)
    assert calls.count(flaky) == 2 and calls.count(broken) == 2
    states = {cell.name: cell.state for cell in grid.cells.values()}
    assert states[flaky] == State.COMPLETED and states[broken] == State.FAILED
    assert "ended Failed: boom" in grid.cells[("dbt-jaffle-shop", 1)].reason
    blocked = sorted(name for name, state in states.items() if state == State.BLOCKED)
    assert blocked == [
        "dashboards 2026-01-08..2026-01-14",
        "dbt-attribution 2026-01-08..2026-01-14",
        "sales-forecast 2026-01-08..2026-01-14",
    ]


def test_the_table_of_a_backfill_tells_the_next_one_what_failed():
    grid = Grid(plan.CHILDREN, CHUNKS, attempts=1)
    grid.plan(Mode.ALL)
    launch, _ = fake_runs({"sales-forecast 2026-01-01..2026-01-07": 1})
    tables = drive(grid, launch)
    again = Grid(plan.CHILDREN, CHUNKS)
    again.plan(Mode.FAILED, last_states=backfill.last_states_from(tables[-1], again))
    assert sorted(cell.name for cell in again.to_run()) == [
        "dashboards 2026-01-01..2026-01-07",
        "sales-forecast 2026-01-01..2026-01-07",
    ]


def test_a_cell_spanning_several_columns_stands_in_its_first_and_the_failed_mode_reads_it_back():
    window = plan.Window(date(2026, 1, 1), date(2026, 1, 14))
    sizes = plan.cell_sizes(cells={"ingestion": 7, "dbt-transform": 14})
    grid = Grid(plan.CHILDREN, plan.cell_windows(window, sizes), attempts=1)
    grid.plan(Mode.ALL)
    launch, _ = fake_runs({"dbt-attribution 2026-01-01..2026-01-14": 1})
    tables = drive(grid, launch)
    row = next(row for row in tables[-1] if row["child"] == "dbt-attribution")
    assert row["2026-01-01..2026-01-07"].startswith("✘ failed") and row["2026-01-08..2026-01-14"] == ""
    landing = next(row for row in tables[-1] if row["child"] == "raw-data-marketing")
    assert landing["2026-01-08..2026-01-14"].startswith("✔ completed")
    last = backfill.last_states_from(tables[-1], grid)
    assert last["dbt-attribution 2026-01-01..2026-01-14"] == "failed"
    assert last["raw-data-marketing 2026-01-08..2026-01-14"] == "completed"
    # a later backfill of the range whose dbt cells are weekly: the fortnight's states are not theirs
    weekly = Grid(plan.CHILDREN, plan.chunks(window, 7))
    assert not any(name.startswith("dbt-") for name in backfill.last_states_from(tables[-1], weekly))
