"""Freshness promises: each dataset's declaration says how fresh it must be (`freshness_hours` in its
producer's datasets.toml, carried by every materialization event). The `data-freshness` check (scheduled)
reads each dataset's latest successful materialization and alerts its owner and the teams that read it
once when it goes stale, and once when it is fresh again. Which datasets are stale is kept between checks
in a Prefect Variable, so a dataset that stays stale is not alerted again.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from jaffle_contract import alerts as contract
from jaffle_data import lineage
from prefect import get_client
from prefect.variables import Variable

from jaffle_coordinator import alerts

STATE = "jaffle-freshness"  # the Variable: the datasets the last check found stale
LOOKBACK_DAYS = 30  # the server keeps events 7 days by default


@dataclasses.dataclass(frozen=True)
class Seen:
    """A dataset's latest successful materialization and its promise."""

    dataset: str
    owner: str
    occurred: datetime
    promise_seconds: float | None
    upstream: tuple[str, ...]
    run_url: str


def latest() -> list[Seen]:
    with get_client(sync_client=True) as client:
        found = lineage.read_latest(client, LOOKBACK_DAYS, "succeeded")
    seen = []
    for event in found:
        dataset, said = lineage.dataset_of(event.resource.id), event.payload or {}
        if dataset is None:
            continue
        hours = said.get("freshness_hours")
        seen.append(
            Seen(
                dataset,
                str(said.get("owner") or "?"),
                event.occurred,
                float(hours) * 3600 if hours else None,
                tuple(said.get("upstream") or ()),
                lineage.run_url(event) or "",
            )
        )
    return seen


def readers(seen: list[Seen]) -> dict[str, list[str]]:
    """For each dataset, the other teams that read it (their datasets name it upstream)."""
    found: dict[str, set[str]] = {}
    for each in seen:
        for upstream in each.upstream:
            found.setdefault(upstream, set()).add(each.owner)
    owners = {each.dataset: each.owner for each in seen}
    return {name: sorted(teams - {owners.get(name)}) for name, teams in found.items()}


async def check(promises_seconds: dict[str, float]) -> dict[str, Any]:
    """Compare every dataset's age with its promise (or the override given); alert what changed."""
    now = datetime.now(UTC)
    seen = latest()
    before: set[str] = set(await Variable.aget(STATE, default=[]) or [])
    promise = {each.dataset: promises_seconds.get(each.dataset, each.promise_seconds) for each in seen}
    stale = {
        each.dataset
        for each in seen
        if (promised := promise[each.dataset]) is not None
        and (now - each.occurred).total_seconds() > promised
    }
    stale |= before - {each.dataset for each in seen}  # not seen since: still stale
    read_by = readers(seen)
    sent = []
    for each in seen:
        if each.dataset in stale and each.dataset not in before:
            kind = contract.STALE
        elif each.dataset in before and each.dataset not in stale:
            kind = contract.RECOVERED
        else:
            continue
        alerts.freshness_changed(
            kind,
            each.dataset,
            each.owner,
            read_by.get(each.dataset, []),
            each.occurred,
            each.run_url,
            promise[each.dataset] or 0,
        )
        sent.append(f"{each.dataset}: {kind.rsplit('.', 1)[1]}")
    await Variable.aset(STATE, sorted(stale), overwrite=True)
    return {"stale": sorted(stale), "alerted": sent}
