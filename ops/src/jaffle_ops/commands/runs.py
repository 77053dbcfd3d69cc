"""`run`, `run --resume`, `backfill`: trigger the coordinator's deployments and follow their children."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from jaffle_contract import datasets, deployments
from jaffle_contract.window import MAX_RUN_DAYS, resolve_window

from jaffle_ops import admin, gridview, spans
from jaffle_ops.errors import PlatformError
from jaffle_ops.local import Platform

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun


def _started(run: FlowRun) -> datetime:
    return run.expected_start_time or run.created or datetime.min


def follow(platform: Platform, flow_run_id: uuid.UUID, poll: float = 1.0, patience: float = 300.0) -> int:
    """Print each child run's name, state, duration and link as they change; return the exit code.
    Rides out a server restart (up to `patience` seconds without an answer) instead of a traceback."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

    seen: dict[str, str] = {}
    lost_since: float | None = None
    with admin.client(platform) as prefect:
        while True:
            try:
                parent = prefect.read_flow_run(flow_run_id)
                children = prefect.read_flow_runs(
                    flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[f"parent:{flow_run_id}"]))
                )
            except (httpx.TransportError, httpx.HTTPStatusError, OSError) as error:
                if isinstance(error, httpx.HTTPStatusError) and error.response.status_code < 500:
                    raise  # a refusal (401, 404) is not a lost API: main says what it means
                if lost_since is None:
                    lost_since = time.monotonic()
                    print(f"  (lost the Prefect API at {platform.api_url}; waiting for it)", flush=True)
                if time.monotonic() - lost_since > patience:
                    raise platform.no_server() from error
                time.sleep(2)
                continue
            if lost_since is not None:
                print("  (the Prefect API is back)", flush=True)
                lost_since = None
            for run in sorted(children, key=_started):
                state = (run.state.name if run.state else None) or "Unknown"
                if seen.get(str(run.id)) != state:
                    seen[str(run.id)] = state
                    duration = (
                        run.total_run_time.total_seconds()
                        if run.state and run.state.is_final()
                        else (run.estimated_run_time.total_seconds())
                    )
                    print(
                        f"  {run.name:<42} {state:<10} {duration:7.1f}s  "
                        f"{platform.ui_url}/runs/flow-run/{run.id}",
                        flush=True,
                    )
            if parent.state and parent.state.is_final():
                ok = parent.state.is_completed()
                print(
                    f"\n{parent.name}: {parent.state.name}" + ("" if ok else f"\n{parent.state.message}"),
                    flush=True,
                )
                return 0 if ok else 1
            time.sleep(poll)


def trigger(
    platform: Platform,
    deployment: str,
    parameters: dict[str, Any],
    name: str,
    follower: Callable[[Platform, uuid.UUID], int] = follow,
) -> int:
    if not admin.healthy(platform):
        raise platform.no_server()
    from prefect.client.schemas.objects import FlowRun
    from prefect.deployments import run_deployment

    with admin.targeting(platform):
        run = run_deployment(
            deployments.qualified(deployment),
            parameters=parameters,
            timeout=0,
            flow_run_name=name,
            as_subflow=False,
        )
    assert isinstance(run, FlowRun)  # called from sync code, run_deployment returns the run itself
    print(f"{name}: {platform.ui_url}/runs/flow-run/{run.id}", flush=True)
    return follower(platform, run.id)


def cmd_resume(platform: Platform, run_id: str) -> int:
    """Retry a parent run that did not complete, as the UI's Retry button does: the same run goes back
    to Scheduled (AwaitingRetry), its worker runs it again, and it reuses the children that completed."""
    from prefect.exceptions import ObjectNotFound
    from prefect.states import AwaitingRetry

    if not admin.healthy(platform):
        raise platform.no_server()
    try:
        flow_run_id = uuid.UUID(run_id)
    except ValueError:
        raise PlatformError(f"--resume takes a flow run id (a UUID), not {run_id!r}") from None
    with admin.client(platform) as prefect:
        try:
            run = prefect.read_flow_run(flow_run_id)
        except ObjectNotFound:
            raise PlatformError(f"no flow run {run_id} on {platform.api_url}") from None
        state = (run.state.name if run.state else None) or "Unknown"
        if run.state and run.state.is_completed():
            raise PlatformError(f"{run.name} already completed: nothing to resume")
        if not (run.state and run.state.is_final()):
            raise PlatformError(f"{run.name} is {state}, not finished: follow it in the UI or wait")
        if run.deployment_id is None:
            raise PlatformError(f"{run.name} was not started from a deployment, so no worker can rerun it")
        result: Any = prefect.set_flow_run_state(
            run.id, AwaitingRetry(message=f"Resumed with ./dev run --resume after it ended {state}")
        )
        if result.status.value != "ACCEPT":
            raise PlatformError(f"the server refused to resume {run.name}: {result.details}")
    print(f"{run.name}: resuming after {state} at {platform.ui_url}/runs/flow-run/{run.id}", flush=True)
    return follow(platform, run.id)


def cmd_run(platform: Platform, args: argparse.Namespace) -> int:
    if getattr(args, "resume", None):
        if args.start or args.end or args.days:
            raise PlatformError("--resume reruns a run with its own window: drop --start, --end and --days")
        return cmd_resume(platform, args.resume)
    if args.days and args.start is None:
        end = args.end or date.today() - timedelta(days=1)
        args.start = end - timedelta(days=args.days - 1)
        args.end = end
    window = resolve_window(args.start, args.end)
    parameters = {**window.parameters(), "fire_and_forget": args.fire_and_forget or []}
    if getattr(args, "ingest_from", None):
        parameters["ingest_from"] = args.ingest_from
    return trigger(platform, deployments.DATA_PLATFORM, parameters, f"data-platform {window}")


def backfill_options(args: argparse.Namespace) -> dict[str, Any]:
    """The backfill flow's options from `./dev backfill`'s flags: each option's flag is its name with
    dashes, except `caps`, the repeated `--cap TEAM=N`, and `cells`, the repeated `--cell TEAM=SIZE`."""
    repeated = {"caps": _parse_caps(args.cap), "cells": _parse_cells(args.cell)}
    return {
        option.name: repeated[option.name] if option.name in repeated else getattr(args, option.name)
        for option in dataclasses.fields(deployments.BackfillOptions)
    }


def _pairs(flag: str, pairs: list[str], value: Callable[[str], Any], what: str) -> dict[str, Any]:
    """`--flag TEAM=VALUE ...` as a dict by team; PlatformError naming the pair that is not one."""
    found = {}
    for pair in pairs:
        team, _, text = pair.rpartition("=")
        try:
            found[team] = value(text) if team else None
        except ValueError:
            found[team] = None
        if found[team] is None:
            raise PlatformError(f"{flag} takes TEAM={what}, not {pair!r}")
    return found


def _parse_caps(pairs: list[str] | None) -> dict[str, int] | None:
    """`--cap ingestion=3 --cap dbt-transform=1` as the backfill's `caps` parameter."""
    return (
        _pairs("--cap", pairs, lambda text: int(text) if text.isdigit() else None, "N (a whole number)")
        if pairs
        else None
    )


def _parse_cells(pairs: list[str] | None) -> dict[str, deployments.CellSize] | None:
    """`--cell ml-forecast=7 --cell dashboards=once` as the backfill's `cells` parameter."""
    sizes = "SIZE (a number of days, or once)"
    return _pairs("--cell", pairs, deployments.cell_size, sizes) if pairs else None


def cmd_land(platform: Platform, args: argparse.Namespace) -> int:
    """Copy a folder's files (native raw tables or Jaffle Shop exports) into the source's landing folder,
    then land them over the window (without dates: every day the files hold), in runs of at most
    MAX_RUN_DAYS days one after the other. Each but the last is the source's ingestion deployment from
    the landing folder; the last is the parent's, which lands its window from the files and builds
    every team on it (`--no-build`: the ingestion deployment again, and nothing built)."""
    from jaffle_data.storage import DataSettings

    whole = args.start is None and args.end is None
    if whole and args.folder is None:
        raise PlatformError("without --start and --end, name the folder whose files' days to land")
    window = None if whole else resolve_window(args.start, args.end)
    if args.folder is not None:
        folder = Path(args.folder)
        files = (
            sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in datasets.LANDABLE)
            if folder.is_dir()
            else []
        )
        if not files:
            raise PlatformError(f"{folder} holds no {' or '.join(datasets.LANDABLE)} files to land")
        if window is None:
            window = spans.span(files, spans.date_columns(platform.root, args.source))
            print(f"the files hold {window} ({len(window.days)} days)", flush=True)
        storage = DataSettings(data_dir=platform.data_dir).storage
        for path in files:
            storage.put(path, datasets.LANDING, args.source, path.name)
        print(f"copied {len(files)} file(s) to {storage.uri(datasets.LANDING, args.source)}", flush=True)
    assert window is not None
    runs = window.chunks(MAX_RUN_DAYS)
    build = not getattr(args, "no_build", False)
    for number, chunk in enumerate(runs, start=1):
        of = f" ({number} of {len(runs)})" if len(runs) > 1 else ""
        if build and number == len(runs):
            # The last run is the parent's: it lands this window from the files and builds every team
            # on it once (the earlier windows are in the lake by now).
            parameters = {**chunk.parameters(), "ingest_from": {args.source: "landing"}}
            code = trigger(platform, deployments.DATA_PLATFORM, parameters, f"data-platform {chunk}{of}")
        else:
            parameters = {**chunk.parameters(), "ingest_from": "landing"}
            code = trigger(
                platform, deployments.INGESTED[args.source], parameters, f"land {args.source} {chunk}{of}"
            )
        if code:
            if number < len(runs):
                rest = f"--start {chunk.start} --end {window.end}"
                print(f"stopped at {chunk}: land the rest with `./dev land {rest}`", file=sys.stderr)
            return code
    last = runs[-1]
    again = f"--start {last.start} --end {last.end} --ingest-from {args.source}:landing"
    if build:
        print(f"landed {window} and built every team over {last}; again with `./dev run {again}`", flush=True)
    else:
        print(f"landed {window}; build every team over {last} with `./dev run {again}`", flush=True)
    return 0


def cmd_backfill(platform: Platform, args: argparse.Namespace) -> int:
    window = resolve_window(args.start, args.end)
    parameters = {**window.parameters(), **backfill_options(args)}
    name = f"backfill {window}" + (" (dry run)" if args.dry_run else "")
    return trigger(platform, deployments.DATA_PLATFORM_BACKFILL, parameters, name, follower=follow_grid)


def _latest_table(prefect: Any, flow_run_id: uuid.UUID, prefix: str) -> list[dict[str, Any]] | None:
    """The newest table artifact of a run whose key starts with `prefix` (the backfill's grid)."""
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    found = prefect.read_artifacts(
        artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]), key=ArtifactFilterKey(like_=f"{prefix}%")
        ),
        sort=ArtifactSort.CREATED_DESC,
        limit=1,
    )
    if not found or not found[0].data:
        return None
    data = found[0].data
    table = json.loads(data) if isinstance(data, str) else data
    return table if isinstance(table, list) and table else None


# On a log, a grid that has not changed for this long is followed by what its unfinished cells are doing.
STALL_SECONDS = 120.0


def _unfinished(prefect: Any, flow_run_id: uuid.UUID) -> str:
    """The parent's child runs that have not ended: each state, for how long, and its id."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

    runs = prefect.read_flow_runs(
        flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[f"parent:{flow_run_id}"]))
    )
    now = datetime.now().astimezone()
    lines = [
        f"  {run.name}: {run.state.name} for {(now - run.state.timestamp).total_seconds():.0f} s ({run.id})"
        for run in sorted(runs, key=_started)
        if run.state and not run.state.is_final()
    ]
    return "\n".join([f"no cell changed for {STALL_SECONDS:.0f} s; unfinished child runs:", *lines])


def follow_grid(
    platform: Platform, flow_run_id: uuid.UUID, poll: float = 1.0, patience: float = 300.0
) -> int:
    """Draw a backfill's grid as its table artifact says it stands: live on a terminal, and on a log (CI)
    each time a cell changes state. A dry run's plan is drawn once it is written."""
    from rich.console import Console
    from rich.live import Live

    console = Console()
    began = time.monotonic()
    last_text = ""
    changed = began
    lost_since: float | None = None
    with admin.client(platform) as prefect, Live(console=console, auto_refresh=False) as live:
        while True:
            try:
                parent = prefect.read_flow_run(flow_run_id)
                table = _latest_table(prefect, flow_run_id, "backfill-grid-")
                plan = None if table else _latest_table(prefect, flow_run_id, "backfill-plan-")
                table = table or plan
            except (httpx.TransportError, httpx.HTTPStatusError, OSError) as error:
                if isinstance(error, httpx.HTTPStatusError) and error.response.status_code < 500:
                    raise
                lost_since = lost_since or time.monotonic()
                if time.monotonic() - lost_since > patience:
                    raise platform.no_server() from error
                time.sleep(2)
                continue
            lost_since = None
            elapsed = time.monotonic() - began
            if table:
                if console.is_terminal:
                    live.update(gridview.render(table, elapsed), refresh=True)
                else:
                    text = gridview.as_text(table, elapsed)
                    if text.splitlines()[:-1] != last_text.splitlines()[:-1]:
                        console.out(text, highlight=False)
                        last_text, changed = text, time.monotonic()
                    elif time.monotonic() - changed > STALL_SECONDS:
                        console.out(_unfinished(prefect, flow_run_id), highlight=False)
                        changed = time.monotonic()
            if parent.state and parent.state.is_final():
                ok = parent.state.is_completed()
                if plan:  # a dry run: say why each cell would run or not
                    console.out("\n" + gridview.reasons(plan), highlight=False)
                console.out(
                    f"\n{parent.name}: {parent.state.name}" + ("" if ok else f"\n{parent.state.message}"),
                    highlight=False,
                )
                return 0 if ok else 1
            time.sleep(poll)
