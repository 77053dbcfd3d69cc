"""Failure alerts from the parent flows, sent once a failure is final: a child that failed in a daily
run (the daily parent does not retry it), a backfill cell that failed its last attempt, and the parent
itself; and a team's run started by itself (standalone.py). Each is a Prefect event
(`jaffle_contract.alerts`) naming the owner; the platform's automations route it to the owner's
notification blocks. What a failure holds back comes from the datasets' graph.
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from jaffle_contract import alerts
from prefect import get_run_logger
from prefect.events import emit_event

from jaffle_coordinator import plan

# The alerts a parent run has sent (owner: subject), for its summary: see `collect`.
_SENT: ContextVar[list[str] | None] = ContextVar("jaffle_alerts_sent", default=None)


def collect() -> list[str]:
    """From here on in this run, each alert sent is also added to the list returned."""
    sent: list[str] = []
    _SENT.set(sent)
    return sent


def held_back(name: str) -> tuple[list[str], list[str]]:
    """The other teams whose data a failed child holds back, and the datasets: what it writes and
    everything downstream of it in the graph."""
    entries = {entry["name"]: entry for entry in plan.GRAPH["children"]}
    downstream: set[str] = set()
    frontier = {name}
    while frontier:
        frontier = {
            entry["name"] for entry in entries.values() if set(entry["needs"]) & frontier
        } - downstream
        downstream |= frontier
    own = entries[name]["team"] if name in entries else None  # (a deployment outside the plan: nothing)
    teams = sorted({entries[n]["team"] for n in downstream} - {own})
    datasets = sorted(
        {dataset for n in ({name} | downstream) & entries.keys() for dataset in entries[n]["writes"]}
    )
    return teams, datasets


def child_failed(
    child: plan.Child, run_name: str, url: str, state: str, message: str, started: str = ""
) -> None:
    """A child's final failure, to its team (`started`: how the run began, when not by a parent)."""
    teams, datasets = held_back(child.name)
    lines = [
        f"{run_name} ended {state}: {message or 'no message'}",
        f"Run: {url}",
        f"Owner: {child.team}",
        f"Holds back: {', '.join(teams) or 'no other team'} ({', '.join(datasets) or 'no dataset'})",
        *([f"Started: {started}"] if started else []),
    ]
    _emit(
        child.team,
        f"[{child.team}] {run_name} ended {state}",
        "\n".join(lines),
        {"run": run_name, "url": url, "state": state, "message": message},
        {"held_back_teams": teams, "held_back_datasets": datasets},
    )


def parent_failed(run_name: str, url: str, message: str, failures: list[tuple[str, str, str, str]]) -> None:
    """The parent's alert, to the platform team: what failed and who owns each failed child."""
    owners = {child.deployment: child.team for child in plan.CHILDREN}
    failed = [
        f"{run} ({state}, owner {owners.get(deployment, '?')})" for deployment, run, state, _ in failures
    ]
    lines = [
        f"{run_name} failed: {message}",
        f"Run: {url}",
        f"Owner: {alerts.PLATFORM}",
        f"Failed children: {', '.join(failed) or 'none (the parent itself)'}",
    ]
    _emit(
        alerts.PLATFORM,
        f"[{alerts.PLATFORM}] {run_name} failed",
        "\n".join(lines),
        {"run": run_name, "url": url, "state": "Failed", "message": message},
        {"child_owners": sorted({owners.get(deployment, "?") for deployment, *_ in failures})},
    )


def parent_ended(error: BaseException | None) -> None:
    """A parent that failed (not one cancelled: someone chose that) alerts the platform team."""
    import asyncio

    from prefect.runtime import flow_run

    if error is None or isinstance(error, asyncio.CancelledError | KeyboardInterrupt):
        return
    failures = error.failures if isinstance(error, plan.ChildRunFailed) else []
    message = str(error) or type(error).__name__
    parent_failed(flow_run.name or "parent", flow_run.ui_url or "", message, failures)


def freshness_changed(
    kind: str,
    dataset: str,
    owner: str,
    readers: list[str],
    materialized: datetime,
    url: str,
    promise_seconds: float,
) -> None:
    """A dataset gone stale (or fresh again): to its owner, and to each team that reads it."""
    went = "is stale" if kind == alerts.STALE else "is fresh again"
    when = materialized.strftime("%Y-%m-%d %H:%M:%S UTC")
    for recipient in [owner, *readers]:
        lines = [
            f"{dataset} {went}: last materialized {when} (promised every {promise_seconds / 3600:g} h)",
            f"Run: {url}",
            f"Owner: {owner}" + ("" if recipient == owner else f" ({recipient} reads it)"),
        ]
        _emit(
            recipient,
            f"[{recipient}] {dataset} {went}",
            "\n".join(lines),
            {"run": dataset, "url": url, "state": went, "message": ""},
            {"dataset": dataset, "dataset_owner": owner, "materialized": when},
            event=kind,
        )


def _emit(
    owner: str,
    subject: str,
    text: str,
    run: dict[str, str],
    extra: dict[str, Any],
    event: str = alerts.EVENT,
) -> None:
    emit_event(
        event=event,
        resource={
            "prefect.resource.id": f"jaffle.alert.{uuid.uuid4()}",
            "prefect.resource.name": run["run"],
            alerts.OWNER: owner,
        },
        payload={"subject": subject, "text": text, "owner": owner, **run, **extra},
    )
    get_run_logger().info("Alert to %s: %s", owner, subject)
    if (sent := _SENT.get()) is not None:
        sent.append(f"{owner}: {subject}")
