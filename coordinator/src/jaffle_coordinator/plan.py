"""The platform's run plan: which team deployments run, in which order, for which window.

This is the contract with the teams: deployment names and their parameters. No team code is imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from jaffle_contract import deployments
from jaffle_contract.window import Window, resolve_window

__all__ = ["STAGES", "Child", "ChildRunFailed", "Proof", "Stage", "Window", "chunks", "resolve_window"]


@dataclass(frozen=True)
class Proof:
    """A dataset whose data shows a child's window done (a backfill's `missing` mode reads it).

    days: `each` day of the window it has input for (the days its day-partitioned upstreams hold, or
    every day when it has none); the `last` day only (a forecast as of the window's end); `any`: the
    dataset exists (a page redrawn whole)."""

    dataset: str
    days: Literal["each", "last", "any"] = "each"


@dataclass(frozen=True)
class Child:
    """A team deployment the parent runs."""

    deployment: str  # "<flow name>/<deployment name>"
    label: str | None = None  # a name of its own, when one deployment runs as several children
    # Its runs build on its own earlier output (incremental models): in a backfill, a chunk waits for
    # this child's previous chunk.
    in_order: bool = False
    proves: tuple[Proof, ...] = ()

    @property
    def name(self) -> str:
        return self.label or self.deployment.split("/", 1)[1]


def _child(name: str, *proves: Proof, in_order: bool = False) -> Child:
    return Child(deployments.qualified(name), in_order=in_order, proves=proves)


@dataclass(frozen=True)
class Stage:
    """Children that run side by side, after the stage before them."""

    name: str
    children: tuple[Child, ...]
    cap: int = 2  # in a backfill: at most this many of its cells at once (a backfill may set its own)


# Stages run in order; the children of one stage run concurrently. Attribution reads the published
# jaffle_shop warehouse, so it waits for dbt-jaffle-shop; it and the forecast are independent.
# Each child names the datasets whose data proves a window of it done (tests/contract checks that its
# team declares them). A dbt project publishes its warehouse whole, so one of its marts is proof enough.
STAGES: tuple[Stage, ...] = (
    Stage(
        "ingestion",
        (
            _child(
                deployments.RAW_DATA_JAFFLE_SHOP,
                Proof("raw.jaffle_shop.orders"),
                Proof("raw.jaffle_shop.order_items"),
            ),
            _child(
                deployments.RAW_DATA_MARKETING,
                Proof("raw.marketing.ad_spend"),
                Proof("raw.marketing.web_sessions"),
            ),
        ),
        3,
    ),
    # One writer of the warehouse at a time (the warehouse lock would hold any more waiting).
    Stage(
        "warehouse",
        (_child(deployments.DBT_JAFFLE_SHOP, Proof("jaffle_shop.orders"), in_order=True),),
        1,
    ),
    # Both read the published jaffle_shop warehouse and write different things: run them side by side.
    Stage(
        "attribution and forecast",
        (
            _child(deployments.DBT_ATTRIBUTION, Proof("attribution.channel_performance"), in_order=True),
            _child(
                deployments.SALES_FORECAST,
                Proof("ml.revenue_forecast", "last"),
                Proof("ml.forecast_metrics", "last"),
            ),
        ),
        2,
    ),
    Stage("dashboards", (_child(deployments.DASHBOARDS, Proof("dashboards.dashboard", "any")),), 1),
)
CHILD_NAMES = tuple(child.name for stage in STAGES for child in stage.children)
# Children nobody downstream waits on: the only ones a run may start without waiting for.
FORGETTABLE = tuple(child.name for child in STAGES[-1].children)


def chunks(window: Window, chunk_days: int) -> list[Window]:
    """Split a window into consecutive chunks of at most `chunk_days` days."""
    if chunk_days < 1:
        raise ValueError(f"chunk_days must be at least 1, got {chunk_days}")
    out, start = [], window.start
    while start <= window.end:
        end = min(start + timedelta(days=chunk_days - 1), window.end)
        out.append(Window(start, end))
        start = end + timedelta(days=1)
    return out


def check_fire_and_forget(names: list[str]) -> set[str]:
    """Only children nobody downstream waits on may be fired and forgotten."""
    last_stage = set(FORGETTABLE)
    unknown = set(names) - set(CHILD_NAMES)
    if unknown:
        raise ValueError(f"unknown child deployment(s) {sorted(unknown)}; known: {list(CHILD_NAMES)}")
    waited_on = set(names) - last_stage
    if waited_on:
        raise ValueError(f"{sorted(waited_on)} cannot be fire-and-forget: later stages depend on them")
    return set(names)


class ChildRunFailed(RuntimeError):
    """A child run did not complete; the message names it, its state and its error."""

    def __init__(self, failures: list[tuple[str, str, str, str]]):
        self.failures = failures
        super().__init__(
            "; ".join(
                f"child run '{run}' of deployment {child} ended {state}: {message or 'no message'}"
                for child, run, state, message in failures
            )
        )
