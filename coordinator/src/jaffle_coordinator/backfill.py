"""Driving a backfill grid with real child runs: start what may start, wait for any to end, record.

Each cell is one child run, named after the cell (`<child> <window>`) and tagged with it, so a retried
backfill (same parent run) reuses the cells that completed and a later backfill of the same range can
read what happened to each. The grid is kept as a table artifact (rows: children, columns: chunks)
that is written again whenever a cell ends, with a progress artifact beside it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from prefect.client.schemas.objects import FlowRun

from jaffle_coordinator import children, plan
from jaffle_coordinator.grid import Cell, Grid, State

LaunchCell = Callable[[Cell], Coroutine[Any, Any, FlowRun]]
OnChange = Callable[[Grid], Awaitable[None]]

SYMBOL = {
    State.WAITING: "·",
    State.RUNNING: "▶",
    State.RETRYING: "↻",
    State.COMPLETED: "✔",
    State.SKIPPED: "–",
    State.FAILED: "✘",
    State.BLOCKED: "⊘",
}


async def drive(
    grid: Grid, launch_cell: LaunchCell, on_change: OnChange, clock: Callable[[], float] = time.monotonic
) -> None:
    """Run the grid to its end. A cell whose run does not complete is retried or failed by the grid's
    rules; an error of the driver itself (the parent cancelled, the API gone for good) cancels the
    waits of the running cells and propagates."""
    running: dict[asyncio.Task[FlowRun], Cell] = {}
    try:
        while not grid.finished:
            for cell in grid.startable(clock()):
                grid.started(cell)
                running[asyncio.create_task(launch_cell(cell), name=cell.name)] = cell
            await on_change(grid)
            retry = grid.next_retry()
            timeout = None if retry is None else max(0.05, retry - clock())
            if not running:
                if timeout is None:  # nothing running, nothing to retry, not finished: cannot happen
                    raise RuntimeError(f"the backfill grid is stuck: {grid.tally()}")
                await asyncio.sleep(timeout)
                continue
            done, _ = await asyncio.wait(running, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                cell = running.pop(task)
                if task.exception() is not None:
                    error = task.exception()
                    if isinstance(error, children.ServerUnreachable):
                        raise error
                    grid.failed(cell, f"{type(error).__name__}: {error}", clock())
                    continue
                run = task.result()
                cell.run_name, cell.run_url = run.name, children.ui_link(run)
                if run.state and run.state.is_completed():
                    grid.completed(cell, "completed")
                else:
                    state = (run.state.name if run.state else None) or "Unknown"
                    message = (run.state.message if run.state else None) or "no message"
                    grid.failed(cell, f"{run.name} ended {state}: {message}", clock())
        await on_change(grid)
    finally:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)


def cell_child(cell: Cell) -> plan.Child:
    """The child of one cell: the team deployment under the cell's own name (its tag and run name)."""
    return dataclasses.replace(cell.child, label=cell.name)


def rows(grid: Grid, why: bool = False) -> list[dict[str, Any]]:
    """The grid as a table: one row per child, one column per chunk, each a state and its run's link
    (a plan's cells say why instead)."""
    out = []
    for child in grid.children:
        row: dict[str, Any] = {"child": child.name, "team": child.team}
        for index, window in enumerate(grid.chunks):
            cell = grid.cells[(child.name, index)]
            if why:
                detail = f": {cell.reason}" if cell.reason else ""
            else:
                detail = f" [run]({cell.run_url})" if cell.run_url.startswith("http") else ""
            row[str(window)] = f"{SYMBOL[cell.state]} {cell.state.value}{detail}"
        out.append(row)
    return out


def done_fraction(grid: Grid) -> float:
    counts = grid.counts()
    total = sum(counts.values())
    final = sum(n for state, n in counts.items() if state.final)
    return 100.0 * final / total if total else 100.0


def artifact_key(window: plan.Window) -> str:
    """One key per backfilled range: the latest version is that range's last grid."""
    return f"backfill-grid-{window.start.isoformat()}-{window.end.isoformat()}"


def last_states_from(table: list[dict[str, Any]], grid: Grid) -> dict[str, str]:
    """Each cell's state in a grid table written by an earlier backfill of the range, by cell name."""
    by_child = {row["child"]: row for row in table}
    out = {}
    for (name, index), cell in grid.cells.items():
        words = str(by_child.get(name, {}).get(str(grid.chunks[index]), "")).split()
        state = words[1].rstrip(":") if len(words) > 1 else ""  # `<symbol> <state>[: why | link]`
        if state in {s.value for s in State}:
            out[cell.name] = state
    return out
