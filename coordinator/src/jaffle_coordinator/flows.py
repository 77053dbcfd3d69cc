"""The coordinator's flows: `data-platform` (daily), `data-platform-chunk` (the same flow for one
backfill chunk) and `data-platform-backfill` (date ranges).

Children are team deployments, started with `run_deployment(timeout=0)` and awaited event-first
(children.py). Whatever ends the parent (a child that failed or crashed, a wait or flow timeout, an
unreachable API, a cancellation), the children it started and that are still going are cancelled and
the `platform-run-summary` artifact records the real outcome and every child: run, rerun, reused or
never started. A retried parent reuses the children that completed and runs only the rest.
"""

from __future__ import annotations

import asyncio
from datetime import date

from jaffle_contract.parameters import parameter
from prefect import flow, get_run_logger, task
from prefect.artifacts import acreate_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import FlowRun

from jaffle_coordinator import children, plan, timing
from jaffle_coordinator.settings import CoordinatorSettings

SETTINGS = CoordinatorSettings()


async def run_stage(
    stage: str,
    stage_children: tuple[plan.Child, ...],
    window: plan.Window,
    forget: set[str],
    earlier: dict[str, list[FlowRun]],
    launched: list[children.Launched],
) -> None:
    """Run a stage's children concurrently; raise ChildRunFailed naming every one that failed."""
    logger = get_run_logger()
    started = []
    for child in stage_children:
        item = await children.launch(
            child, window.parameters(), f"{child.name} {window}", earlier.get(child.name, [])
        )
        launched.append(item)
        started.append(item)
        logger.info("%s %s: %s", item.how.capitalize(), item.run.name, children.ui_link(item.run))
    waited = [item for item in started if item.child.name not in forget]
    for item in started:
        if item.child.name in forget:
            logger.info("Not waiting for %s (fire and forget)", item.run.name)
    await asyncio.gather(
        *(
            children.wait_resubmitting(
                item,
                window.parameters(),
                earlier.get(item.child.name, []),
                SETTINGS.child_timeout_seconds,
                SETTINGS.wait_slice_seconds,
                SETTINGS.server_unreachable_seconds,
            )
            for item in waited
        )
    )
    children.raise_unless_completed(waited)
    logger.info("Stage %s completed: %s", stage, ", ".join(item.run.name for item in waited))


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


def run_rows(launched: list[children.Launched], planned: list[str], cancelled: list[str]) -> list[Row]:
    """Plain rows for the summary task: every planned child, started or not."""
    rows: list[Row] = []
    by_name = {item.child.name: item for item in launched}
    for name in planned:
        item = by_name.get(name)
        if item is None:
            rows.append(
                {
                    "name": name,
                    "state": "not started",
                    "how": "",
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


@task(name="summarize-platform-run", cache_policy=NO_CACHE)
async def summarize(window: plan.Window, rows: list[Row], outcome: str) -> str:
    """Always runs: record every child's state, how this attempt got it, its duration and link."""
    launches = [r["launch"] for r in rows if isinstance(r["launch"], float)]
    p50 = timing.p50(list(launches))
    lines = [
        f"# Data platform run {window}",
        "",
        f"**Outcome:** {outcome}",
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


async def finish(
    window: plan.Window, launched: list[children.Launched], planned: list[str], error: BaseException | None
) -> None:
    """On any way out: cancel what is still going (unless the run completed), then write the summary.
    Shielded, so a cancelled parent still cleans up after itself."""

    async def cleanup() -> None:
        cancelled = await children.cancel_unfinished(launched) if error is not None else []
        rows = run_rows(await children.refresh(launched), planned, cancelled)
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
    error: BaseException | None = None
    try:
        for stage in plan.STAGES:
            await run_stage(stage.name, stage.children, window, forget, earlier, launched)
    except BaseException as exc:
        error = exc
        raise
    finally:
        await finish(window, launched, list(plan.CHILD_NAMES), error)
    return {
        "window": str(window),
        "children": {i.run.name: i.run.state.name for i in launched if i.run.state},
        "reused": [i.run.name for i in launched if i.reused],
    }


FIRST_DAY = parameter(
    None, "First day", "First day every team processes, inclusive. Empty: the last day, or yesterday."
)
LAST_DAY = parameter(
    None, "Last day", "Last day every team processes, inclusive. Empty: the first day, or yesterday."
)
FIRE_AND_FORGET = parameter(
    None,
    "Do not wait for",
    "Deployments of the last stage to start without waiting for, e.g. dashboards.",
)


@flow(name="data-platform", timeout_seconds=SETTINGS.parent_timeout_seconds)
async def data_platform(
    start_date: date | None = FIRST_DAY,
    end_date: date | None = LAST_DAY,
    fire_and_forget: list[str] | None = FIRE_AND_FORGET,
) -> dict[str, object]:
    """Run every team's deployment for a window of days: ingestion, dbt, forecast, dashboards."""
    return await _platform(start_date, end_date, fire_and_forget)


@flow(name="data-platform-chunk", timeout_seconds=SETTINGS.parent_timeout_seconds)
async def data_platform_chunk(
    start_date: date | None = FIRST_DAY,
    end_date: date | None = LAST_DAY,
    fire_and_forget: list[str] | None = FIRE_AND_FORGET,
) -> dict[str, object]:
    """One chunk of a backfill: the same run as data-platform, outside the daily run's one-at-a-time limit."""
    return await _platform(start_date, end_date, fire_and_forget)


@flow(name="data-platform-backfill")
async def data_platform_backfill(
    start_date: date = parameter(..., "First day", "First day of the range to backfill, inclusive."),
    end_date: date = parameter(..., "Last day", "Last day of the range to backfill, inclusive."),
    chunk_days: int = parameter(7, "Days per chunk", "Each chunk is one `data-platform-chunk` run."),
    max_concurrent_chunks: int = parameter(
        2, "Chunks at once", "How many chunks run at the same time (dbt builds take turns on the warehouse)."
    ),
) -> dict[str, object]:
    """Backfill a date range: split it into chunks and run `data-platform-chunk` for each, a few at a time."""
    window = plan.resolve_window(start_date, end_date)
    if max_concurrent_chunks < 1:
        raise ValueError(f"max_concurrent_chunks must be at least 1, got {max_concurrent_chunks}")
    chunks = plan.chunks(window, chunk_days)
    gate = asyncio.Semaphore(max_concurrent_chunks)
    chunk = plan.Child(SETTINGS.chunk_deployment)
    earlier = await children.earlier_children()
    launched: list[children.Launched] = []
    planned = [f"{chunk.name} {part}" for part in chunks]

    async def one(part: plan.Window) -> None:
        async with gate:
            name = f"{chunk.name} {part}"
            # One child name per chunk, so a retried backfill reuses the chunks that completed.
            item = await children.launch(
                plan.Child(chunk.deployment, name),
                part.parameters(),
                name,
                earlier.get(name, []),
                ("backfill",),
            )
            launched.append(item)
            await children.wait_resubmitting(
                item,
                part.parameters(),
                earlier.get(name, []),
                SETTINGS.parent_timeout_seconds,
                SETTINGS.wait_slice_seconds,
                SETTINGS.server_unreachable_seconds,
                ("backfill",),
            )

    error: BaseException | None = None
    try:
        await asyncio.gather(*(one(part) for part in chunks))
        children.raise_unless_completed(launched)
    except BaseException as exc:
        error = exc
        raise
    finally:
        await finish(window, launched, planned, error)
    return {"window": str(window), "chunks": {i.run.name: i.run.state.name for i in launched if i.run.state}}
