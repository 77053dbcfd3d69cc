"""The coordinator's flows: `data-platform` (daily: daily.py, summary.py) and `data-platform-backfill`
(date ranges, as a grid of (team deployment, window) cells: grid.py, backfill.py).

Children are team deployments, started with `run_deployment(timeout=0)` and awaited event-first
(children.py). Whatever ends the parent (a child that failed or crashed, a wait or flow timeout, an
unreachable API, a cancellation), the children it started and that are still going are cancelled and
the `platform-run-summary` artifact records the real outcome and every child: run, rerun, reused or
never started. A retried parent reuses the children that completed and runs only the rest.

Beside them, `data-freshness` checks every dataset's freshness promise (freshness.py), and
`data-platform-alert` alerts the owner of a team's run started by itself that failed or crashed
(standalone.py).

The flows are thin: their names, parameters and docstrings are what the Prefect UI offers, their
bodies are in the modules above.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal

from jaffle_contract.deployments import BACKFILL, BACKFILL_BOUNDS, PROMISE_BOUNDS, IngestFrom, SourceName
from jaffle_contract.parameters import parameter
from prefect import flow

from jaffle_coordinator import backfill, daily, freshness, grid, plan, standalone
from jaffle_coordinator.settings import SETTINGS

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
INGEST_FROM = parameter(
    None,
    "Land from",
    'Where each named source lands from, e.g. {"jaffle_shop": "landing"} for your own files in its '
    "landing folder. Empty, or a source it does not name: the ingestion flow's default "
    "(JAFFLE_INGEST_FROM, synthetic unless set).",
)
# The run form's choices for it: the children no other child reads from.
Forgettable = Literal[plan.FORGETTABLE]  # type: ignore[valid-type]
# The teams a backfill's caps and cell sizes name.
TEAMS = tuple(plan.CELLS)
Team = Literal[TEAMS]  # type: ignore[valid-type]
CHUNK_DAYS, CAP, ATTEMPTS, BACKOFF = (
    BACKFILL_BOUNDS[name] for name in ("chunk_days", "caps", "attempts", "backoff_seconds")
)


@flow(name="data-platform", timeout_seconds=SETTINGS.parent_timeout_seconds)
async def data_platform(
    start_date: date | None = FIRST_DAY,
    end_date: date | None = LAST_DAY,
    fire_and_forget: list[Forgettable] | None = FIRE_AND_FORGET,
    ingest_from: dict[SourceName, IngestFrom] | None = INGEST_FROM,
) -> dict[str, object]:
    """Run every team's deployment for a window of days: ingestion, dbt, forecast, dashboards."""
    chosen = {str(source): str(kind) for source, kind in (ingest_from or {}).items()}
    return await daily.run(start_date, end_date, fire_and_forget, chosen)


@flow(name="data-platform-backfill")
async def data_platform_backfill(
    # "The last day is not before the first" is not a JSON schema rule: plan.resolve_window checks it
    # when the run starts, naming both days.
    start_date: date = parameter(..., "First day", "First day of the range to backfill, inclusive."),
    end_date: date = parameter(..., "Last day", "Last day of the range to backfill, inclusive."),
    chunk_days: Annotated[int, CHUNK_DAYS.field] | None = parameter(
        BACKFILL.chunk_days,
        "Days per cell",
        "Every team's cells span this many days. Empty: each team's own ("
        + ", ".join(f"{team} {size}" for team, size in plan.CELLS.items())
        + ").",
        bounds=CHUNK_DAYS,
    ),
    cells: dict[Team, Annotated[int, CHUNK_DAYS.field] | Literal["once"]] | None = parameter(
        BACKFILL.cells,
        "Cell sizes",
        'One team\'s cells, by team: days, or "once" for one cell over the whole range, e.g. '
        '{"ml-forecast": 7} for a forecast per week.',
    ),
    reprocess: Literal["all", "missing", "failed"] = parameter(
        BACKFILL.reprocess,
        "Reprocess",
        "all: every cell; missing: the cells whose outputs the data lacks for their window; "
        "failed: only the cells that did not complete in the last backfill of this range.",
    ),
    caps: dict[Team, Annotated[int, CAP.field]] | None = parameter(
        BACKFILL.caps,
        "Caps",
        'Cells of a team at once, by team, e.g. {"ingestion": 3} (default: each team\'s own). '
        f"Range of each: {CAP.text}.",
    ),
    attempts: Annotated[int, ATTEMPTS.field] = parameter(
        BACKFILL.attempts,
        "Attempts",
        "Runs of a cell before it fails and blocks what needs it.",
        bounds=ATTEMPTS,
    ),
    backoff_seconds: Annotated[float, BACKOFF.field] = parameter(
        BACKFILL.backoff_seconds,
        "Backoff (s)",
        "Wait before a cell's second attempt; doubles.",
        bounds=BACKOFF,
    ),
    dry_run: bool = parameter(
        BACKFILL.dry_run, "Dry run", "List the cells that would run, and why; run nothing."
    ),
) -> dict[str, object]:
    """Backfill a date range as a grid of (team deployment, window) cells, each started as soon as it may."""
    window = plan.resolve_window(start_date, end_date)
    the_grid = grid.Grid(
        plan.CHILDREN,
        plan.cell_windows(window, plan.cell_sizes(chunk_days, cells)),
        caps=caps,
        attempts=attempts,
        backoff_seconds=backoff_seconds,
    )
    await backfill.plan_cells(the_grid, window, grid.Mode(reprocess))
    if dry_run:
        return await backfill.show_plan(the_grid, window, reprocess)
    return await backfill.run(the_grid, window)


@flow(name="data-freshness")
async def data_freshness(
    promises_seconds: dict[str, Annotated[float, PROMISE_BOUNDS.field]] | None = parameter(
        None,
        "Promises (s)",
        'For this check only: datasets\' freshness promises in seconds, e.g. {"ml.revenue_forecast": 60} '
        "to try an alert. Empty: each dataset's declared freshness_hours. "
        f"Range of each: {PROMISE_BOUNDS.text}.",
    ),
) -> dict[str, object]:
    """Check each dataset's freshness promise: alert its owner and its readers once when it goes stale,
    and once when it is fresh again."""
    return await freshness.check(dict(promises_seconds or {}))


@flow(name="data-platform-alert", flow_run_name="alert for {flow_run_id}")
async def data_platform_alert(
    flow_run_id: uuid.UUID | None = parameter(
        None,
        "Flow run",
        "The id of a team's flow run that failed or crashed (the platform's automation gives it). Its owner "
        "is alerted unless a parent started it (the parent alerts) or it is a canary. Empty: nothing to do.",
    ),
) -> dict[str, object]:
    """Alert the owner of a team's run started by itself (no parent) that failed or crashed."""
    if flow_run_id is None:
        return {"alerted": None, "skipped": "no flow run given"}
    return await standalone.alert(flow_run_id)
