"""Every team's deployments, by name. A deployment is named after its flow, so the coordinator calls
`<name>/<name>`; a team that renames one changes it here, and the contract tests follow."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from jaffle_contract.parameters import Bounds

RAW_DATA_JAFFLE_SHOP = "raw-data-jaffle-shop"
RAW_DATA_MARKETING = "raw-data-marketing"
DBT_JAFFLE_SHOP = "dbt-jaffle-shop"
DBT_ATTRIBUTION = "dbt-attribution"
SALES_FORECAST = "sales-forecast"
DASHBOARDS = "dashboards"
DATA_PLATFORM = "data-platform"
DATA_PLATFORM_BACKFILL = "data-platform-backfill"
DATA_FRESHNESS = "data-freshness"
# Alerts the owner of a team's run started by itself (no parent) that failed or crashed; run by the
# automation `./dev up` makes (jaffle_ops.standalone).
DATA_PLATFORM_ALERT = "data-platform-alert"
# The platform's check and alert, which take no window of days (every other deployment takes one).
UNWINDOWED = (DATA_FRESHNESS, DATA_PLATFORM_ALERT)
# The tag of a canary run (`./dev upgrade --team`): its command reports how it ended, no alert does.
CANARY_TAG = "canary"
# A freshness promise given to one check, in seconds (a second to a year).
PROMISE_BOUNDS = Bounds(1, 366 * 24 * 3600)

# The sources the ingestion team lands, each by its own deployment (`./dev land --source`).
INGESTED: dict[str, str] = {"jaffle_shop": RAW_DATA_JAFFLE_SHOP, "marketing": RAW_DATA_MARKETING}
SOURCES = tuple(INGESTED)
SourceName = Literal[SOURCES]  # type: ignore[valid-type]
# Where an ingestion run lands a source from: generated days, or the files in its landing folder. The
# ingestion flows' `ingest_from` parameter, the parent's per source, and JAFFLE_INGEST_FROM's grammar.
IngestFrom = Literal["synthetic", "landing"]


def ingest_from(value: str, what: str = "JAFFLE_INGEST_FROM") -> dict[str, IngestFrom]:
    """`landing` (every source), or `jaffle_shop:landing,marketing:synthetic` (those sources): where
    each named source lands from. ValueError naming `what`, the pair and the choices."""
    kinds = get_args(IngestFrom)
    if value in kinds:
        return dict.fromkeys(INGESTED, value)  # type: ignore[arg-type]
    chosen: dict[str, IngestFrom] = {}
    for pair in filter(None, (p.strip() for p in value.split(","))):
        source, _, kind = pair.partition(":")
        if source not in INGESTED or kind not in kinds:
            raise ValueError(
                f"{what}={value!r}: {pair!r} is not <source>:<kind> with a source among "
                f"{', '.join(INGESTED)} and a kind among {', '.join(kinds)}"
            )
        chosen[source] = kind  # type: ignore[assignment]
    return chosen


# What a backfill reruns (the backfill flow's `reprocess` parameter, `./dev backfill --reprocess`).
REPROCESS = ("all", "missing", "failed")


# A backfill cell's size: a number of days, or ONCE (one cell over the whole range, after every cell it
# reads). Each team declares its own (`backfill-cell`); a backfill may set any team's (`cells`).
ONCE: Literal["once"] = "once"
CellSize = int | Literal["once"]


def cell_size(value: object) -> CellSize:
    """A cell size from a team's setting or a flag (`7`, `"7"` or `"once"`). ValueError naming it."""
    if value == ONCE:
        return ONCE
    low, high = (int(bound) for bound in BACKFILL_BOUNDS["chunk_days"])
    try:
        days = int(str(value)) if not isinstance(value, bool) else None
    except ValueError:
        days = None
    if days is None or not low <= days <= high:
        raise ValueError(f"{value!r} is not a cell size: a number of days from {low} to {high}, or {ONCE!r}")
    return days


@dataclass(frozen=True)
class BackfillOptions:
    """A backfill's options beyond its range, and their defaults: the backfill flow's parameters (its run
    form in the UI) and `./dev backfill`'s flags, each the same name with dashes (`caps` is the repeated
    `--cap TEAM=N`, `cells` the repeated `--cell TEAM=SIZE`). Tests hold the flow and the CLI to this list.

    A team's cells span `cells[team]`, else `chunk_days` days, else the team's declared size."""

    chunk_days: int | None = None
    cells: dict[str, CellSize] | None = None
    reprocess: str = "all"
    caps: dict[str, int] | None = None
    attempts: int = 2
    backoff_seconds: float = 30.0
    dry_run: bool = False


BACKFILL = BackfillOptions()


def grid_cells(row: Mapping[str, Any], columns: Sequence[str]) -> list[tuple[str, str]]:
    """The cells of one row of a backfill's grid table, each as (its window, its text).

    The table (the backfill flow writes it, `./dev backfill` draws it) has a row per child and a column
    per stretch of days (`<first>..<last>`), cut wherever some cell starts; a cell's text stands in the
    column of its first days, and the empty columns after it are its own too."""
    out: list[tuple[str, str]] = []
    for column in columns:
        text = str(row.get(column, ""))
        if text or not out:
            out.append((column, text))
        else:
            first, _ = out[-1]
            out[-1] = (f"{first.split('..')[0]}..{column.split('..')[-1]}", out[-1][1])
    return out


# The numeric options' bounds: the backfill flow's parameter schema (its run form refuses a value out of
# range). Below them the grid cannot run (a chunk of no days, a cap of no cells, a cell never tried, a
# negative wait); above them is taken for a typo: a chunk over a year, a cell retried for days (the
# backoff doubles each attempt).
BACKFILL_BOUNDS: dict[str, Bounds] = {
    "chunk_days": Bounds(1, 366),
    "caps": Bounds(1, 32),  # each team's cap
    "attempts": Bounds(1, 10),
    "backoff_seconds": Bounds(0, 3600),
}


def qualified(name: str) -> str:
    """`<flow>/<deployment>`, as `run_deployment` takes it."""
    return f"{name}/{name}"
