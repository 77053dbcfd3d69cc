"""A backfill's `missing` mode: what each cell's outputs lack for its window, read from the data.

A cell's outputs are the datasets its child proves its window with (`plan.Proof`); where they live comes
from the catalog each team's deploy saves (`jaffle_data.coverage`), so no team code runs here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from jaffle_data import coverage
from jaffle_data.storage import Storage
from prefect.client.orchestration import get_client

from jaffle_coordinator.grid import Cell


class NoCatalog(LookupError):
    """A proof dataset the server's catalog does not place: its team was not deployed by the platform."""


PAGE = 200  # the API's largest page of variables


async def read_places() -> dict[str, coverage.Place]:
    """Every dataset's place, from the teams' catalog Variables on this server (all of them, however
    many other variables the server holds)."""
    found: list[dict[str, Any]] = []
    async with get_client() as client:
        while True:
            response = await client.request(
                "POST",
                "/variables/filter",
                json={
                    "variables": {"name": {"like_": coverage.CATALOG_PREFIX}},
                    "sort": "NAME_ASC",
                    "offset": len(found),
                    "limit": PAGE,
                },
            )
            page = response.json()
            found += page
            if len(page) < PAGE:
                break
    return coverage.places(
        v["value"]
        for v in found
        if v["name"].startswith(coverage.CATALOG_PREFIX) and isinstance(v["value"], dict)
    )


def _days(lacking: list[date]) -> str:
    if len(lacking) <= 3:
        return ", ".join(d.isoformat() for d in lacking)
    return f"{len(lacking)} days from {lacking[0]} to {lacking[-1]}"


def checker(places: Mapping[str, coverage.Place], storage: Storage) -> Callable[[Cell], str | None]:
    """`missing(cell)`: what the cell's proofs lack for its window (None: nothing), each dataset's days
    read once."""
    held: dict[str, set[date]] = {}

    def place_of(name: str) -> coverage.Place:
        if name not in places:
            raise NoCatalog(
                f"no catalog places dataset {name!r}: deploy its team with `./dev deploy`, which saves "
                f"where its datasets live as the Prefect Variable {coverage.CATALOG_PREFIX}<team>"
            )
        return places[name]

    def days_of(place: coverage.Place) -> set[date]:
        if place.name not in held:
            held[place.name] = coverage.days(storage, place)
        return held[place.name]

    def missing(cell: Cell) -> str | None:
        gaps = []
        for proof in cell.child.proves:
            place = place_of(proof.dataset)
            if proof.days == "any":
                if not coverage.exists(storage, place):
                    gaps.append(f"{proof.dataset} not written")
                continue
            if proof.days == "last":
                need = {cell.window.end}
            else:
                need = set(cell.window.days)
                inputs = [places[u] for u in place.upstream if u in places and places[u].by_day]
                if inputs:  # the days it has input for
                    need &= set().union(*(days_of(p) for p in inputs))
            lacking = sorted(need - days_of(place))
            if lacking:
                gaps.append(f"{proof.dataset} lacks {_days(lacking)}")
        return "; ".join(gaps) or None

    return missing
