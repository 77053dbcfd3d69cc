"""The coordinator's flows: `data-platform` (daily) and `data-platform-backfill` (date ranges).

Children are team deployments, started with `run_deployment(timeout=0)` and awaited with
`wait_for_flow_run`, which listens for the child's terminal event instead of polling. A child that
does not complete fails the parent with its name, state and message; later stages do not start;
the summary step runs whatever happened.
"""

from __future__ import annotations

import asyncio
from datetime import date

from prefect import flow, get_run_logger, task
from prefect.artifacts import acreate_markdown_artifact
from prefect.client.schemas.objects import FlowRun
from prefect.concurrency.asyncio import concurrency
from prefect.context import get_run_context
from prefect.deployments import arun_deployment
from prefect.exceptions import ObjectNotFound
from prefect.flow_runs import wait_for_flow_run
from prefect.settings import PREFECT_UI_URL
from pydantic import Field

from jaffle_coordinator import plan
from jaffle_coordinator.settings import CoordinatorSettings


def parameter(default, title: str, description: str):
    """A flow parameter as the Prefect UI's run form shows it: a title, a description, a default.
    (Prefect titles a parameter with its name unless the schema says otherwise.)"""
    return Field(default, description=description, json_schema_extra={"title": title})


def parent_tag() -> str:
    """Children carry their parent's id as a tag, so `jaffle-platform run` can follow them."""
    return f"parent:{get_run_context().flow_run.id}"


def _ui_link(flow_run: FlowRun) -> str:
    base = PREFECT_UI_URL.value()
    return f"{base}/runs/flow-run/{flow_run.id}" if base else str(flow_run.id)


async def start_child(child: plan.Child, window: plan.Window) -> FlowRun:
    """Create the child's flow run and return at once (timeout=0); its worker picks it up."""
    try:
        return await arun_deployment(
            child.deployment,
            parameters=window.parameters(),
            flow_run_name=f"{child.name} {window}",
            timeout=0,
            tags=[parent_tag(), "platform"],
        )
    except ObjectNotFound:
        raise plan.ChildRunFailed(
            [
                (
                    child.deployment,
                    f"{child.name} {window}",
                    "NotDeployed",
                    "no such deployment: deploy its team's package",
                )
            ]
        ) from None


async def finish_child(flow_run: FlowRun, timeout: float) -> FlowRun:
    """Wait for the child's terminal state (event-driven, no polling)."""
    return await wait_for_flow_run(flow_run.id, timeout=int(timeout))


async def run_stage(
    stage: str,
    children: tuple[plan.Child, ...],
    window: plan.Window,
    forget: set[str],
    finished: list[FlowRun],
) -> None:
    """Run a stage's children concurrently; raise ChildRunFailed naming every one that failed."""
    settings = CoordinatorSettings()
    logger = get_run_logger()
    started = [(child, await start_child(child, window)) for child in children]
    for _, run in started:
        logger.info("Started %s: %s", run.name, _ui_link(run))
    waited = [(c, r) for c, r in started if c.name not in forget]
    for run in (r for c, r in started if c.name in forget):
        logger.info("Not waiting for %s (fire and forget)", run.name)
        finished.append(run)
    results = await asyncio.gather(*(finish_child(r, settings.child_timeout_seconds) for _, r in waited))
    finished.extend(results)
    failures = [
        (
            child.deployment,
            run.name,
            run.state.name if run.state else "Unknown",
            run.state.message if run.state else "",
        )
        for (child, _), run in zip(waited, results, strict=True)
        if not (run.state and run.state.is_completed())
    ]
    if failures:
        raise plan.ChildRunFailed(failures)
    logger.info("Stage %s completed: %s", stage, ", ".join(r.name for r in results))


def run_rows(runs: list[FlowRun]) -> list[dict]:
    """Plain rows for the summary task (a FlowRun carries a state Prefect would take for a dependency)."""
    return [
        {
            "name": r.name,
            "state": r.state.name if r.state else "Unknown",
            "seconds": round(r.total_run_time.total_seconds(), 1),
            "link": _ui_link(r),
        }
        for r in runs
    ]


@task(name="summarize-platform-run")
async def summarize(window: plan.Window, rows: list[dict], failure: str | None) -> str:
    """Always runs: record every child's state, duration and link, and the outcome, as an artifact."""
    lines = [
        f"# Data platform run {window}",
        "",
        f"**Outcome:** {'failed: ' + failure if failure else 'completed'}",
        "",
        "| child run | state | duration (s) | link |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| {r['name']} | {r['state']} | {r['seconds']} | {r['link']} |" for r in rows]
    await acreate_markdown_artifact(
        key="platform-run-summary",
        markdown="\n".join(lines),
        description=f"Children of the data platform run {window}",
    )
    get_run_logger().info("Platform run %s %s", window, f"failed: {failure}" if failure else "completed")
    return "\n".join(lines)


@flow(name="data-platform")
async def data_platform(
    start_date: date | None = parameter(
        None, "First day", "First day every team processes, inclusive. Empty: the last day, or yesterday."
    ),
    end_date: date | None = parameter(
        None, "Last day", "Last day every team processes, inclusive. Empty: the first day, or yesterday."
    ),
    fire_and_forget: list[str] | None = parameter(
        None,
        "Do not wait for",
        "Deployments of the last stage to start without waiting for, e.g. dashboards.",
    ),
) -> dict:
    """Run every team's deployment for a window of days: ingestion, dbt, forecast, dashboards."""
    window = plan.resolve_window(start_date, end_date)
    forget = plan.check_fire_and_forget(fire_and_forget or [])
    settings = CoordinatorSettings()
    finished: list[FlowRun] = []
    failure: plan.ChildRunFailed | None = None
    try:
        for stage, children in plan.STAGES:
            if stage == "ingestion":
                await run_stage(stage, children, window, forget, finished)
                continue
            # Warehouse writers and readers take turns across concurrent platform runs (backfills).
            async with concurrency(
                settings.warehouse_limit,
                occupy=1,
                strict=True,
                timeout_seconds=settings.child_timeout_seconds,
            ):
                await run_stage(stage, children, window, forget, finished)
    except plan.ChildRunFailed as exc:
        failure = exc
    finally:
        await summarize(window, run_rows(finished), str(failure) if failure else None)
    if failure:
        raise failure
    return {"window": str(window), "children": {r.name: r.state.name for r in finished if r.state}}


@flow(name="data-platform-backfill")
async def data_platform_backfill(
    start_date: date = parameter(..., "First day", "First day of the range to backfill, inclusive."),
    end_date: date = parameter(..., "Last day", "Last day of the range to backfill, inclusive."),
    chunk_days: int = parameter(7, "Days per chunk", "Each chunk is one `data-platform` run."),
    max_concurrent_chunks: int = parameter(
        2, "Chunks at once", "How many chunks run at the same time (they share the warehouse lock)."
    ),
) -> dict:
    """Backfill a date range: split it into chunks and run `data-platform` for each, a few at a time."""
    window = plan.resolve_window(start_date, end_date)
    if max_concurrent_chunks < 1:
        raise ValueError(f"max_concurrent_chunks must be at least 1, got {max_concurrent_chunks}")
    settings = CoordinatorSettings()
    gate = asyncio.Semaphore(max_concurrent_chunks)
    parent = plan.Child(settings.parent_deployment)

    async def one(chunk: plan.Window) -> FlowRun:
        async with gate:
            run = await arun_deployment(
                parent.deployment,
                parameters=chunk.parameters(),
                flow_run_name=f"{parent.name} {chunk}",
                timeout=0,
                tags=[parent_tag(), "platform", "backfill"],
            )
            return await wait_for_flow_run(run.id, timeout=int(settings.child_timeout_seconds) * 6)

    runs = await asyncio.gather(*(one(chunk) for chunk in plan.chunks(window, chunk_days)))
    failures = [
        (
            parent.deployment,
            r.name,
            r.state.name if r.state else "Unknown",
            r.state.message if r.state else "",
        )
        for r in runs
        if not (r.state and r.state.is_completed())
    ]
    await summarize(window, run_rows(list(runs)), str(plan.ChildRunFailed(failures)) if failures else None)
    if failures:
        raise plan.ChildRunFailed(failures)
    return {"window": str(window), "chunks": {r.name: r.state.name for r in runs if r.state}}
