"""The platform's run plan: which team deployments run, after which, for which window.

This is the contract with the teams: deployment names and their parameters. No team code is imported.
The order is the teams' declared datasets' (`graph.json`, generated from every team's `datasets.toml`
by `./dev generate`): a child starts once the producers of everything it reads have completed, so
dbt-jaffle-shop does not wait for the marketing landing it does not read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from jaffle_contract import deployments
from jaffle_contract.window import Window, resolve_window

__all__ = [
    "CELLS",
    "CHILDREN",
    "Child",
    "ChildRunFailed",
    "Proof",
    "Window",
    "cell_sizes",
    "cell_windows",
    "chunks",
    "resolve_window",
]


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
    team: str = ""  # the team that owns it (its backfill cap is the team's)
    # The children whose datasets it reads, each with those datasets: it starts once they completed.
    needs: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # In a backfill, the parameters every cell of it but the last runs with (its team's `not_last`).
    not_last: tuple[tuple[str, Any], ...] = ()

    @property
    def name(self) -> str:
        return self.label or self.deployment.split("/", 1)[1]

    @property
    def producers(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.needs)


# What proves a child's window done in the data, by deployment (tests/contract checks that its team
# declares each). A dbt project publishes its warehouse whole, so one of its marts is proof enough; a
# child with none is always run by a `missing` backfill.
PROOFS: dict[str, tuple[Proof, ...]] = {
    deployments.RAW_DATA_JAFFLE_SHOP: (Proof("raw.jaffle_shop.orders"), Proof("raw.jaffle_shop.order_items")),
    deployments.RAW_DATA_MARKETING: (Proof("raw.marketing.ad_spend"), Proof("raw.marketing.web_sessions")),
    deployments.DBT_JAFFLE_SHOP: (Proof("jaffle_shop.orders"),),
    deployments.DBT_ATTRIBUTION: (Proof("attribution.channel_performance"),),
    deployments.SALES_FORECAST: (Proof("ml.revenue_forecast", "last"), Proof("ml.forecast_metrics", "last")),
    deployments.DASHBOARDS: (Proof("dashboards.dashboard", "any"),),
}


def _graph() -> dict[str, Any]:
    # beside this module (read by path, so the teams' contract tests can load the plan without the package)
    return dict(json.loads((Path(__file__).parent / "graph.json").read_text()))


def _children(graph: dict[str, Any]) -> tuple[Child, ...]:
    """The children in the graph's order; a graph in which a child needs one that does not come
    before it (hand-edited, or not the generator's) is refused here, not found by a parent that waits."""
    seen: set[str] = set()
    for entry in graph["children"]:
        early = sorted(set(entry["needs"]) - seen)
        if early:
            raise ValueError(f"graph.json: {entry['name']} needs {early}, which do not come before it")
        seen.add(entry["name"])
    return tuple(
        Child(
            deployments.qualified(entry["name"]),
            in_order=entry["in_order"],
            proves=PROOFS.get(entry["name"], ()),
            team=entry["team"],
            needs=tuple((name, tuple(read)) for name, read in entry["needs"].items()),
            not_last=tuple(graph.get("not_last", {}).get(entry["team"], {}).items()),
        )
        for entry in graph["children"]
    )


GRAPH = _graph()
# Every child, each after the children it needs.
CHILDREN: tuple[Child, ...] = _children(GRAPH)
# In a backfill, at most this many cells of a team at once (a backfill may set its own).
CAPS: dict[str, int] = dict(GRAPH["caps"])
# In a backfill, the days each team's cells span, or "once" (a backfill may set its own).
CELLS: dict[str, deployments.CellSize] = dict(GRAPH["cells"])
CHILD_NAMES = tuple(child.name for child in CHILDREN)
# Children nobody waits on: the only ones a run may start without waiting for.
FORGETTABLE = tuple(
    child.name for child in CHILDREN if not any(child.name in other.producers for other in CHILDREN)
)


def chunks(window: Window, chunk_days: int) -> list[Window]:
    """Split a window into consecutive chunks of at most `chunk_days` days."""
    return window.chunks(chunk_days)


def cell_sizes(
    chunk_days: int | None = None, cells: Mapping[str, object] | None = None
) -> dict[str, deployments.CellSize]:
    """Each team's cell size in a backfill: `cells[team]`, else `chunk_days`, else its declared one.
    ValueError naming an unknown team or a size that is not one."""
    unknown = sorted(set(cells or {}) - set(CELLS))
    if unknown:
        raise ValueError(f"cells name unknown teams {unknown}; the teams are {sorted(CELLS)}")
    sized = {team: deployments.cell_size(size) for team, size in (cells or {}).items()}
    return {team: sized.get(team, chunk_days or size) for team, size in CELLS.items()}


def cell_windows(window: Window, sizes: Mapping[str, deployments.CellSize]) -> dict[str, list[Window]]:
    """Each child's cell windows over a backfill's range, by its team's cell size ("once": the range).
    A last cell shorter than half a size joins the one before it: a cell pays a run's start whatever
    its days, so 365 days in 91-day cells are four cells, not four and a day."""
    return {child.name: _cut(window, sizes[child.team]) for child in CHILDREN}


def _cut(window: Window, size: deployments.CellSize) -> list[Window]:
    if size == deployments.ONCE:
        return [window]
    cells = window.chunks(int(size))
    if len(cells) > 1 and 2 * len(cells[-1].days) < int(size):
        cells[-2:] = [Window(cells[-2].start, cells[-1].end)]
    return cells


def check_fire_and_forget(names: list[str]) -> set[str]:
    """Only children nobody waits on may be fired and forgotten."""
    unknown = set(names) - set(CHILD_NAMES)
    if unknown:
        raise ValueError(f"unknown child deployment(s) {sorted(unknown)}; known: {list(CHILD_NAMES)}")
    waited_on = set(names) - set(FORGETTABLE)
    if waited_on:
        readers = {
            name: sorted(c.name for c in CHILDREN if name in c.producers) for name in sorted(waited_on)
        }
        said = "; ".join(f"{name} by {', '.join(by)}" for name, by in readers.items())
        raise ValueError(f"{sorted(waited_on)} cannot be fire-and-forget: others read their data ({said})")
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
