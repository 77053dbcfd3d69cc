"""Which days a dataset holds, read from the data itself (what a backfill's `missing` mode checks).

- A day-partitioned Parquet dataset holds the days that have a partition file:
  `<location>/<key>=YYYY-MM-DD/part-0.parquet`. A folder without its file, or a file where the folder
  belongs, holds nothing.
- A warehouse table (format `duckdb`) with a day column (`partition_by`) holds the days its published
  warehouse has rows for. The dbt team writes them beside the published file as it publishes
  (`days_file`), queried from the very database it publishes: the document is removed before a publish
  and written after it, so it may lag the warehouse but never names a day the warehouse lacks.
- Any other dataset (a reference table, the dashboard page) is there or not.

The data root is a folder or any fsspec URL (`storage.Storage`). Where a
dataset lives is its producer's declaration; the platform learns it from the catalog each team's
deploy saves as a Prefect Variable (`CATALOG_PREFIX` + team), so the coordinator needs no team code.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from jaffle_contract.contracts import Declarations, Produced

from jaffle_data.storage import Storage

# The Prefect Variable holding one team's catalog: where each of its datasets lives, and how it is laid
# out (`catalog(declarations)`).
CATALOG_PREFIX = "jaffle-datasets-"
DAYS_SUFFIX = ".days.json"
PARTITION_FILE = "part-0.parquet"
_PARTITION = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=(\d{4}-\d{2}-\d{2})$")


@dataclass(frozen=True)
class Place:
    """What reading a dataset's coverage needs from its declaration."""

    name: str
    location: str  # under the data root; `<file>#<schema>.<table>` for a warehouse table
    format: str
    partition_by: str | None = None
    upstream: tuple[str, ...] = ()

    @classmethod
    def of(cls, produced: Produced) -> Place:
        d = produced
        return cls(d.name, d.location, d.format, d.partition_by, d.upstream)

    @property
    def by_day(self) -> bool:
        return self.partition_by is not None and self.format in ("parquet", "duckdb")


def catalog(declarations: Declarations) -> dict[str, dict[str, Any]]:
    """A team's catalog: each produced dataset's place, as the JSON value of its Prefect Variable."""
    return {d.name: {**asdict(Place.of(d)), "upstream": list(d.upstream)} for d in declarations.produces}


def places(values: Iterable[Mapping[str, Any]]) -> dict[str, Place]:
    """Every dataset's place from the catalogs of the teams (the Variables' values)."""
    out: dict[str, Place] = {}
    for value in values:
        for name, entry in value.items():
            out[name] = Place(**{**entry, "upstream": tuple(entry.get("upstream", ()))})
    return out


def days_file(location: str) -> str:
    """The days document of a warehouse table's published file, beside that file."""
    return location.split("#", 1)[0] + DAYS_SUFFIX


def days_document(days: Mapping[str, Iterable[date]]) -> bytes:
    """The document a warehouse publish writes: per table (`<schema>.<table>`), the days it has rows for."""
    return json.dumps({table: sorted({d.isoformat() for d in ds}) for table, ds in days.items()}).encode()


def days(storage: Storage, place: Place) -> set[date]:
    """The days a day-partitioned dataset holds, read from the data (none when nothing is there)."""
    if not place.by_day:
        raise ValueError(f"{place.name} is not partitioned by day")
    fs, root = storage.fs, storage.root
    if place.format == "duckdb":
        file, table = place.location.split("#", 1)
        try:
            with fs.open(posixpath.join(root, days_file(file))) as handle:
                document = json.load(handle)
        except FileNotFoundError:
            return set()
        return {date.fromisoformat(d) for d in document.get(table, [])}
    folder = posixpath.join(root, place.location)
    try:
        found = fs.glob(posixpath.join(folder, "*", PARTITION_FILE))
    except FileNotFoundError:
        return set()
    out = set()
    for path in found:
        matched = _PARTITION.match(posixpath.basename(posixpath.dirname(path)))
        if matched:
            out.add(date.fromisoformat(matched.group(1)))
    return out


def exists(storage: Storage, place: Place) -> bool:
    """Whether a dataset has been written at all (any day, or its one file)."""
    if place.by_day:
        return bool(days(storage, place))
    return storage.exists(place.location.split("#", 1)[0])
