"""How a daily parent run ends, whatever ends it: the children still going are cancelled, and the
`platform-run-summary` artifact records the real outcome and every child (run, rerun, reused or never
started), with launch and run times and a link to the latest lineage view.
"""

from __future__ import annotations

import asyncio

from jaffle_data import lineage
from prefect import get_client, get_run_logger, task
from prefect.artifacts import acreate_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.filters import ArtifactCollectionFilter, ArtifactCollectionFilterKey

from jaffle_coordinator import children, plan, timing


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
async def summarize(window: plan.Window, rows: list[Row], outcome: str, sent: list[str] | None = None) -> str:
    """Always runs: record every child's state, how this attempt got it, its duration and link."""
    launches = [r["launch"] for r in rows if isinstance(r["launch"], float)]
    p50 = timing.p50(list(launches))
    view = await lineage_view()
    lines = [
        f"# Data platform run {window}",
        "",
        f"**Outcome:** {outcome}",
        "",
        f"**Alerts sent:** {'; '.join(sent) if sent else 'none'} (docs/alerts.md)",
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
    sent: list[str] | None = None,
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
            await summarize(window, rows, outcome_of(error), sent)
        except Exception as summary_error:  # e.g. the API is gone: the run's own state still says why
            get_run_logger().error("Could not write the run summary: %s", summary_error)

    await asyncio.shield(cleanup())
