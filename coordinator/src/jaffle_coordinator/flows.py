"""The coordinator's flows: `data-platform` (daily) and `data-platform-backfill` (date ranges, as a grid
of (team deployment, chunk) cells: grid.py, backfill.py).

Children are team deployments, started with `run_deployment(timeout=0)` and awaited event-first
(children.py). Whatever ends the parent (a child that failed or crashed, a wait or flow timeout, an
unreachable API, a cancellation), the children it started and that are still going are cancelled and
the `platform-run-summary` artifact records the real outcome and every child: run, rerun, reused or
never started. A retried parent reuses the children that completed and runs only the rest.
"""

from __future__ import annotations

import asyncio
import json
from datetime import date
from typing import Any, Literal

from jaffle_contract.deployments import BACKFILL
from jaffle_contract.parameters import parameter
from jaffle_data import lineage
from jaffle_data.storage import DataSettings
from prefect import flow, get_client, get_run_logger, task
from prefect.artifacts import (
    acreate_markdown_artifact,
    acreate_progress_artifact,
    acreate_table_artifact,
    aupdate_progress_artifact,
)
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.filters import ArtifactCollectionFilter, ArtifactCollectionFilterKey
from prefect.client.schemas.objects import FlowRun

from jaffle_coordinator import backfill, children, grid, missing, plan, timing
from jaffle_coordinator.settings import CoordinatorSettings

SETTINGS = CoordinatorSettings()


async def run_graph(
    window: plan.Window,
    forget: set[str],
    earlier: dict[str, list[FlowRun]],
    launched: list[children.Launched],
    blocked: dict[str, str],
) -> None:
    """Run every child as soon as the children it reads from have completed; raise ChildRunFailed
    naming every child that failed once nothing else can run. A child whose producer did not complete
    is not started (`blocked` says which producer); the children that do not need it go on. Anything
    else (a wait that timed out, the API gone, a cancellation) ends the run at once."""
    logger = get_run_logger()
    ended: dict[str, asyncio.Future[bool]] = {
        child.name: asyncio.get_running_loop().create_future() for child in plan.CHILDREN
    }
    failures: dict[str, list[tuple[str, str, str, str]]] = {}

    async def run_child(child: plan.Child) -> None:
        # every producer at once: the first that did not complete settles it (asyncio.wait leaves the
        # shared futures alone when this task is cancelled)
        waiting = {ended[producer]: producer for producer in child.producers}
        while waiting:
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: waiting[f]):
                producer = waiting.pop(future)
                if not future.result():
                    blocked[child.name] = producer
                    logger.info("Not starting %s: %s did not complete", child.name, producer)
                    ended[child.name].set_result(False)
                    return
        try:
            item = await children.launch(
                child, window.parameters(), f"{child.name} {window}", earlier.get(child.name, [])
            )
        except plan.ChildRunFailed as refused:  # not deployed: a failure of this child, not of the run
            failures[child.name] = refused.failures
            ended[child.name].set_result(False)
            return
        launched.append(item)
        logger.info("%s %s: %s", item.how.capitalize(), item.run.name, children.ui_link(item.run))
        if child.name in forget:
            logger.info("Not waiting for %s (fire and forget)", item.run.name)
            ended[child.name].set_result(True)
            return
        try:
            await children.wait_resubmitting(
                item,
                window.parameters(),
                earlier.get(child.name, []),
                SETTINGS.child_timeout_seconds,
                SETTINGS.wait_slice_seconds,
                SETTINGS.server_unreachable_seconds,
            )
        except plan.ChildRunFailed as refused:  # its resubmission was refused (no deployment any more)
            failures[child.name] = refused.failures
            ended[child.name].set_result(False)
            return
        found = children.failure(item)
        if found:
            failures[child.name] = [found]
        ended[child.name].set_result(found is None)

    async with asyncio.TaskGroup() as group:
        for child in plan.CHILDREN:
            group.create_task(run_child(child), name=child.name)
    if failures:  # in the plan's order, whichever ended first
        raise plan.ChildRunFailed([each for name in plan.CHILD_NAMES for each in failures.get(name, [])])


def outcome_of(error: BaseException | None) -> str:
    """The summary's outcome line: what really ended the run."""
    if error is None:
        return "completed"
    if isinstance(error, asyncio.CancelledError | KeyboardInterrupt):
        return "cancelled"
    if isinstance(error, plan.ChildRunFailed | children.ChildTimedOut | children.ServerUnreachable):
        return f"failed: {error}"
    if isinstance(error, TimeoutError):
        return f"failed: the parent run timed out ({error or 'flow timeout'})"
    return f"failed: {type(error).__name__}: {error}"


Row = dict[str, str | float | None]


def run_rows(
    launched: list[children.Launched],
    planned: list[str],
    cancelled: list[str],
    blocked: dict[str, str] | None = None,
) -> list[Row]:
    """Plain rows for the summary task: every planned child, started or not (and if not because a
    child it reads from did not complete, which)."""
    rows: list[Row] = []
    by_name = {item.child.name: item for item in launched}
    for name in planned:
        item = by_name.get(name)
        if item is None:
            producer = (blocked or {}).get(name)
            rows.append(
                {
                    "name": name,
                    "state": "not started",
                    "how": f"{producer} did not complete" if producer else "",
                    "launch": None,
                    "run": None,
                    "seconds": "",
                    "link": "",
                }
            )
            continue
        run = item.run
        how = item.how + ("; cancelled by the parent" if run.name in cancelled else "")
        rows.append(
            {
                "name": run.name,
                "state": (run.state.name if run.state else None) or "Unknown",
                "how": how,
                # Prefect also stamps a start time on a run cancelled before it ran: only runs that
                # were Running (run_count > 0) have a launch and a run time
                "launch": timing.launch_seconds(run.created, run.start_time) if run.run_count else None,
                "run": timing.run_seconds(run.start_time, run.end_time) if run.run_count else None,
                "seconds": round(run.total_run_time.total_seconds(), 1),
                "link": children.ui_link(run),
            }
        )
    return rows


def _blank(value: str | float | None) -> str:
    return "" if value is None else str(value)


async def lineage_view() -> str | None:
    """Where the latest lineage view is (the dashboards flow draws it and links it as an artifact)."""
    async with get_client() as client:
        found = await client.read_latest_artifacts(
            artifact_filter=ArtifactCollectionFilter(
                key=ArtifactCollectionFilterKey(any_=[lineage.VIEW_ARTIFACT])
            ),
            limit=1,
        )
    if not found or not found[0].data:
        return None
    # A link artifact holds markdown, "[text](link)": the summary wants the link.
    text = str(found[0].data)
    return text[text.rfind("](") + 2 : -1] if text.endswith(")") and "](" in text else text


@task(name="summarize-platform-run", cache_policy=NO_CACHE)
async def summarize(window: plan.Window, rows: list[Row], outcome: str) -> str:
    """Always runs: record every child's state, how this attempt got it, its duration and link."""
    launches = [r["launch"] for r in rows if isinstance(r["launch"], float)]
    p50 = timing.p50(list(launches))
    view = await lineage_view()
    lines = [
        f"# Data platform run {window}",
        "",
        f"**Outcome:** {outcome}",
        "",
        f"**Lineage:** [every dataset, its owner, last update and freshness]({view})"
        if view
        else "**Lineage:** no view yet (the dashboards flow draws it)",
        "",
        f"**Launch latency:** p50 {p50} s over {len(launches)} child runs (created to Running)"
        if p50 is not None
        else "**Launch latency:** no child ran",
        "",
        "| child run | state | this attempt | launch (s) | run (s) | duration (s) | link |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {r['name']} | {r['state']} | {r['how']} | {_blank(r['launch'])} | {_blank(r['run'])} "
        f"| {r['seconds']} | {r['link']} |"
        for r in rows
    ]
    await acreate_markdown_artifact(
        key="platform-run-summary",
        markdown="\n".join(lines),
        description=f"Children of the data platform run {window}",
    )
    get_run_logger().info("Platform run %s %s", window, outcome)
    return "\n".join(lines)


async def unrecorded(launched: list[children.Launched]) -> list[children.Launched]:
    """`launched` and the unfinished runs of this parent's children it does not hold (a launch cut off
    after its create while the run was ending), found by the parent's tag; best effort."""
    try:
        runs = await children.earlier_children()
    except Exception:
        return launched
    known = {item.run.id for item in launched}
    by_name = {child.name: child for child in plan.CHILDREN}
    extra = [
        children.Launched(by_name[name], run, "run")
        for name, found in runs.items()
        if name in by_name
        for run in found
        if run.id not in known and not (run.state and run.state.is_final())
    ]
    return [*launched, *extra]


async def finish(
    window: plan.Window,
    launched: list[children.Launched],
    planned: list[str],
    error: BaseException | None,
    blocked: dict[str, str] | None = None,
    forget: set[str] | None = None,
) -> None:
    """On any way out: cancel what is still going (unless the run completed; a child that failed
    leaves the fire-and-forget runs alone: nothing they do depends on it), then write the summary.
    Shielded, so a cancelled parent still cleans up after itself."""

    async def cleanup() -> None:
        found, cancelled = launched, []
        if error is not None:
            found = await unrecorded(launched)
            keep = (forget or set()) if isinstance(error, plan.ChildRunFailed) else set()
            cancelled = await children.cancel_unfinished([i for i in found if i.child.name not in keep])
        rows = run_rows(await children.refresh(found), planned, cancelled, blocked)
        try:
            await summarize(window, rows, outcome_of(error))
        except Exception as summary_error:  # e.g. the API is gone: the run's own state still says why
            get_run_logger().error("Could not write the run summary: %s", summary_error)

    await asyncio.shield(cleanup())


async def _platform(
    start_date: date | None, end_date: date | None, fire_and_forget: list[str] | None
) -> dict[str, object]:
    window = plan.resolve_window(start_date, end_date)
    forget = plan.check_fire_and_forget(fire_and_forget or [])
    earlier = await children.earlier_children()
    launched: list[children.Launched] = []
    blocked: dict[str, str] = {}
    error: BaseException | None = None
    try:
        await run_graph(window, forget, earlier, launched, blocked)
    except BaseException as exc:
        # a TaskGroup raises its children's errors as a group: the first one is what ended the run
        error = _first(exc)
        if error is exc:
            raise
        raise error from None
    finally:
        await finish(window, launched, list(plan.CHILD_NAMES), error, blocked, forget)
    return {
        "window": str(window),
        "children": {i.run.name: i.run.state.name for i in launched if i.run.state},
        "reused": [i.run.name for i in launched if i.reused],
    }


def _first(error: BaseException) -> BaseException:
    """The first error of an exception group (nested ones too), or the error itself."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return error


FIRST_DAY = parameter(
    None, "First day", "First day every team processes, inclusive. Empty: the last day, or yesterday."
)
LAST_DAY = parameter(
    None, "Last day", "Last day every team processes, inclusive. Empty: the first day, or yesterday."
)
FIRE_AND_FORGET = parameter(
    None,
    "Do not wait for",
    "Deployments nobody reads from, to start without waiting for, e.g. dashboards.",
)
# The run form's choices for it: the children no other child reads from.
Forgettable = Literal[plan.FORGETTABLE]  # type: ignore[valid-type]


@flow(name="data-platform", timeout_seconds=SETTINGS.parent_timeout_seconds)
async def data_platform(
    start_date: date | None = FIRST_DAY,
    end_date: date | None = LAST_DAY,
    fire_and_forget: list[Forgettable] | None = FIRE_AND_FORGET,
) -> dict[str, object]:
    """Run every team's deployment for a window of days: ingestion, dbt, forecast, dashboards."""
    return await _platform(start_date, end_date, fire_and_forget)


@flow(name="data-platform-backfill")
async def data_platform_backfill(
    start_date: date = parameter(..., "First day", "First day of the range to backfill, inclusive."),
    end_date: date = parameter(..., "Last day", "Last day of the range to backfill, inclusive."),
    chunk_days: int = parameter(
        BACKFILL.chunk_days, "Days per chunk", "Each chunk is one run of every team deployment."
    ),
    reprocess: Literal["all", "missing", "failed"] = parameter(
        BACKFILL.reprocess,
        "Reprocess",
        "all: every cell; missing: the cells whose outputs the data lacks for their window; "
        "failed: only the cells that did not complete in the last backfill of this range.",
    ),
    caps: dict[str, int] | None = parameter(
        BACKFILL.caps,
        "Caps",
        'Cells of a team at once, by team, e.g. {"ingestion": 3} (default: each team\'s own).',
    ),
    attempts: int = parameter(
        BACKFILL.attempts, "Attempts", "Runs of a cell before it fails and blocks what needs it."
    ),
    backoff_seconds: float = parameter(
        BACKFILL.backoff_seconds, "Backoff (s)", "Wait before a cell's second attempt; doubles."
    ),
    dry_run: bool = parameter(
        BACKFILL.dry_run, "Dry run", "List the cells that would run, and why; run nothing."
    ),
) -> dict[str, object]:
    """Backfill a date range as a grid of (team deployment, chunk) cells, each started as soon as it may."""
    window = plan.resolve_window(start_date, end_date)
    the_grid = grid.Grid(
        plan.CHILDREN,
        plan.chunks(window, chunk_days),
        caps=caps,
        attempts=attempts,
        backoff_seconds=backoff_seconds,
    )
    mode = grid.Mode(reprocess)
    if mode == grid.Mode.MISSING:
        # the platform's data root, as every team reads it (its credentials from a block: off the loop)
        storage = await asyncio.to_thread(lambda: DataSettings().storage)
        check = missing.checker(await missing.read_places(), storage)
        await asyncio.to_thread(the_grid.plan, mode, missing=check)
    else:
        last = await _last_grid(window)
        the_grid.plan(mode, last_states=backfill.last_states_from(last, the_grid) if last else {})
    logger = get_run_logger()
    if dry_run:
        for cell in the_grid.cells.values():
            verb = "would run" if cell.state == grid.State.WAITING else "would skip"
            logger.info("%s %s: %s", verb, cell.name, cell.reason)
        await acreate_table_artifact(
            key=f"backfill-plan-{window.start.isoformat()}-{window.end.isoformat()}",
            table=backfill.rows(the_grid, why=True),
            description=f"Dry run of a backfill of {window} (reprocess {reprocess}): nothing ran",
        )
        return {"window": str(window), "would_run": [cell.name for cell in the_grid.to_run()]}

    earlier = await children.earlier_children()
    tried: dict[str, list[FlowRun]] = {}
    launched: list[children.Launched] = []

    async def launch_cell(cell: grid.Cell) -> FlowRun:
        runs = tried.setdefault(cell.name, list(earlier.get(cell.name, [])))
        child = backfill.cell_child(cell)
        item = await children.launch(child, cell.window.parameters(), cell.name, runs, ("backfill",))
        launched.append(item)
        cell.run_name, cell.run_url = item.run.name, children.ui_link(item.run)
        run = await children.wait_resubmitting(
            item,
            cell.window.parameters(),
            runs,
            SETTINGS.child_timeout_seconds,
            SETTINGS.wait_slice_seconds,
            SETTINGS.server_unreachable_seconds,
            ("backfill",),
        )
        runs.append(run)
        return run

    progress = await acreate_progress_artifact(
        0.0, key=f"backfill-progress-{window.start.isoformat()}-{window.end.isoformat()}"
    )

    async def on_change(current: grid.Grid) -> None:
        await acreate_table_artifact(
            key=backfill.artifact_key(window),
            table=backfill.rows(current),
            description=f"Backfill of {window}: {current.tally()}",
        )
        await aupdate_progress_artifact(progress, backfill.done_fraction(current))

    try:
        await backfill.drive(the_grid, launch_cell, on_change)
    except BaseException:
        await asyncio.shield(children.cancel_unfinished(launched))
        raise
    counts = the_grid.counts()
    failed = [cell for cell in the_grid.cells.values() if cell.state == grid.State.FAILED]
    if failed:
        blocked = counts[grid.State.BLOCKED]
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
    return {"window": str(window), "cells": {state.value: n for state, n in counts.items()}}


async def _last_grid(window: plan.Window) -> list[dict[str, Any]] | None:
    """The table the last backfill of this range left, if any."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactCollectionFilter, ArtifactCollectionFilterKey

    async with get_client() as client:
        found = await client.read_latest_artifacts(
            artifact_filter=ArtifactCollectionFilter(
                key=ArtifactCollectionFilterKey(any_=[backfill.artifact_key(window)])
            )
        )
    if not found or not found[0].data:
        return None
    data = found[0].data
    table = json.loads(data) if isinstance(data, str) else data
    return table if isinstance(table, list) else None
