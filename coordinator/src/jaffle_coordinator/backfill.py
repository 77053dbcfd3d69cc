"""Driving a backfill grid with real child runs: plan its cells by the reprocess mode, then start what
may start, wait for any to end, record (or, in a dry run, only say what would run and why).

Each cell is one child run, named after the cell (`<child> <window>`) and tagged with it, so a retried
backfill (same parent run) reuses the cells that completed and a later backfill of the same range can
read what happened to each. The grid is kept as a table artifact (rows: children, columns: chunks)
that is written again whenever a cell ends, with a progress artifact beside it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from jaffle_contract import deployments
from jaffle_data.storage import DataSettings
from prefect import get_client, get_run_logger
from prefect.artifacts import acreate_progress_artifact, acreate_table_artifact, aupdate_progress_artifact
from prefect.client.schemas.filters import ArtifactCollectionFilter, ArtifactCollectionFilterKey
from prefect.client.schemas.objects import FlowRun

from jaffle_coordinator import alerts, children, missing, plan
from jaffle_coordinator.grid import Cell, Grid, Mode, State
from jaffle_coordinator.settings import SETTINGS

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
    """The grid as a table (`deployments.grid_cells` reads it): one row per child, one column per
    stretch of days; each cell a state and its run's link (a plan's cells say why instead) in the
    column of its first days, the other columns it spans empty."""
    out = []
    for child in grid.children:
        row: dict[str, Any] = {"child": child.name, "team": child.team}
        row |= {str(column): "" for column in grid.chunks}
        for index, _ in enumerate(grid.windows[child.name]):
            cell = grid.cells[(child.name, index)]
            if why:
                detail = f": {cell.reason}" if cell.reason else ""
            else:
                detail = f" [run]({cell.run_url})" if cell.run_url.startswith("http") else ""
            column = next(str(c) for c in grid.chunks if c.start == cell.window.start)
            row[column] = f"{SYMBOL[cell.state]} {cell.state.value}{detail}"
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
    """Each cell's state in a grid table written by an earlier backfill of the range, by cell name (a
    cell of that backfill whose window is not one of this grid's is not this grid's cell)."""
    out = {}
    for row in table:
        columns = [column for column in row if column not in ("child", "team")]
        for window, text in deployments.grid_cells(row, columns):
            words = text.split()
            state = words[1].rstrip(":") if len(words) > 1 else ""  # `<symbol> <state>[: why | link]`
            if state in {s.value for s in State}:
                out[f"{row['child']} {window}"] = state
    names = {cell.name for cell in grid.cells.values()}
    return {name: state for name, state in out.items() if name in names}


async def plan_cells(grid: Grid, window: plan.Window, mode: Mode) -> None:
    """Decide which cells run by the reprocess mode: `missing` asks the data what it lacks, the others
    read the grid the last backfill of this range left (`failed` reruns what did not complete there)."""
    if mode == Mode.MISSING:
        # the platform's data root, as every team reads it (its credentials from a block: off the loop)
        storage = await asyncio.to_thread(lambda: DataSettings().storage)
        check = missing.checker(await missing.read_places(), storage)
        await asyncio.to_thread(grid.plan, mode, missing=check)
    else:
        last = await _last_grid(window)
        grid.plan(mode, last_states=last_states_from(last, grid) if last else {})


async def _last_grid(window: plan.Window) -> list[dict[str, Any]] | None:
    """The table the last backfill of this range left, if any."""
    async with get_client() as client:
        found = await client.read_latest_artifacts(
            artifact_filter=ArtifactCollectionFilter(
                key=ArtifactCollectionFilterKey(any_=[artifact_key(window)])
            )
        )
    if not found or not found[0].data:
        return None
    data = found[0].data
    table = json.loads(data) if isinstance(data, str) else data
    return table if isinstance(table, list) else None


async def show_plan(grid: Grid, window: plan.Window, reprocess: str) -> dict[str, object]:
    """A dry run: log and table what each cell would do and why; start nothing."""
    logger = get_run_logger()
    for cell in grid.cells.values():
        verb = "would run" if cell.state == State.WAITING else "would skip"
        logger.info("%s %s: %s", verb, cell.name, cell.reason)
    await acreate_table_artifact(
        key=f"backfill-plan-{window.start.isoformat()}-{window.end.isoformat()}",
        table=rows(grid, why=True),
        description=f"Dry run of a backfill of {window} (reprocess {reprocess}): nothing ran",
    )
    return {"window": str(window), "would_run": [cell.name for cell in grid.to_run()]}


async def run(grid: Grid, window: plan.Window) -> dict[str, object]:
    """Run the planned grid to its end, one child run per cell, with the grid and a progress bar as
    artifacts; on any way out that is not the grid's own end, cancel the cells still going. Raise
    ChildRunFailed naming every cell that failed."""
    earlier = await children.earlier_children()
    tried: dict[str, list[FlowRun]] = {}
    launched: list[children.Launched] = []

    async def launch_cell(cell: Cell) -> FlowRun:
        runs = tried.setdefault(cell.name, list(earlier.get(cell.name, [])))
        child = cell_child(cell)
        item = await children.launch(child, cell.parameters, cell.name, runs, (children.BACKFILL_TAG,))
        launched.append(item)
        cell.run_name, cell.run_url = item.run.name, children.ui_link(item.run)
        ended = await children.wait_resubmitting(
            item,
            cell.parameters,
            runs,
            SETTINGS.child_timeout_seconds,
            SETTINGS.wait_slice_seconds,
            SETTINGS.server_unreachable_seconds,
            (children.BACKFILL_TAG,),
        )
        runs.append(ended)
        return ended

    progress = await acreate_progress_artifact(
        0.0, key=f"backfill-progress-{window.start.isoformat()}-{window.end.isoformat()}"
    )

    alerted: set[str] = set()

    async def on_change(current: Grid) -> None:
        for cell in current.cells.values():  # failed on its last attempt: final
            if cell.state == State.FAILED and cell.name not in alerted:
                alerted.add(cell.name)
                alerts.child_failed(
                    cell.child, cell.run_name or cell.name, cell.run_url, "Failed", cell.reason
                )
        await acreate_table_artifact(
            key=artifact_key(window),
            table=rows(current),
            description=f"Backfill of {window}: {current.tally()}",
        )
        await aupdate_progress_artifact(progress, done_fraction(current))

    try:
        try:
            await drive(grid, launch_cell, on_change)
        except BaseException:
            await asyncio.shield(children.cancel_unfinished(launched))
            raise
        _raise_failed(grid, grid.counts()[State.BLOCKED])
    except BaseException as error:  # the backfill failed: one alert to the platform team
        alerts.parent_ended(error)
        raise
    return {"window": str(window), "cells": {state.value: n for state, n in grid.counts().items()}}


def _raise_failed(grid: Grid, blocked: int) -> None:
    """Raise ChildRunFailed naming every cell that failed, if any (and how many cells that blocked)."""
    failed = [cell for cell in grid.cells.values() if cell.state == State.FAILED]
    if failed:
        raise plan.ChildRunFailed(
            [
                (
                    cell.child.deployment,
                    cell.run_name or cell.name,
                    "Failed",
                    f"{cell.reason} ({blocked} cells blocked)",
                )
                for cell in failed
            ]
        )
