"""Lineage as Prefect events: what a run wrote, from what, by whom.

A flow that writes declared datasets wraps the writing in `materializing(...)`. When the block ends,
the run emits the events Prefect's own `@materialize` tasks emit: `prefect.asset.referenced` for each
dataset read, and one `prefect.asset.materialization.succeeded` per dataset written, naming its
declared upstreams as related assets (the flow run is attached by Prefect's events worker). A block
that raises emits `prefect.asset.materialization.failed` instead. Each materialization's payload
carries the declaration (owner, location, freshness, upstreams), so a reader of the events API alone
can draw the graph. Asset keys are `jaffle://<dataset>`.

prefect is imported when events are sent, not with this module, so reading the declarations needs no
Prefect client; the library declares prefect since sending does.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from jaffle_contract.contracts import Declarations, Produced

SCHEME = "jaffle://"
MATERIALIZED = "prefect.asset.materialization."
REFERENCED = "prefect.asset.referenced"
# The link artifact (its latest version) that points at the lineage view; the platform run's summary
# links to it.
VIEW_ARTIFACT = "jaffle-lineage-view"


def asset_key(dataset: str) -> str:
    return f"{SCHEME}{dataset}"


def dataset_of(key: str) -> str | None:
    return key.removeprefix(SCHEME) if key.startswith(SCHEME) else None


def payload(team: str, dataset: Produced, **extra: Any) -> dict[str, Any]:
    """What a materialization says about its dataset, beyond its key."""
    return {
        "dataset": dataset.name,
        "owner": team,
        "location": dataset.location,
        "format": dataset.format,
        "freshness_hours": dataset.freshness_hours,
        "upstream": list(dataset.upstream),
        **extra,
    }


def emit(declared: Declarations, names: Sequence[str], status: str, **extra: Any) -> None:
    """Send the reference and materialization events of one write of `names` (status: succeeded or
    failed)."""
    from prefect.assets import Asset, AssetProperties
    from prefect.context import AssetContext
    from prefect.events import emit_event

    written = [declared.produced(name) for name in names]
    for upstream in sorted({u for d in written for u in d.upstream}):
        emit_event(REFERENCED, resource=AssetContext.asset_as_resource(Asset(key=asset_key(upstream))))
    for dataset in written:
        asset = Asset(
            key=asset_key(dataset.name),
            properties=AssetProperties(
                name=dataset.name, description=dataset.description or None, owners=[declared.team]
            ),
        )
        emit_event(
            f"{MATERIALIZED}{status}",
            resource=AssetContext.asset_as_resource(asset),
            related=[AssetContext.asset_as_related(Asset(key=asset_key(u))) for u in dataset.upstream],
            payload=payload(declared.team, dataset, **extra),
        )


@contextmanager
def materializing(declared: Declarations, names: Sequence[str], **extra: Any) -> Iterator[None]:
    """Around the code that writes `names`: their materialization events once it ends (`failed` if it
    raised an error; nothing if the run was cancelled or killed, which Prefect records itself)."""
    for name in names:
        declared.produced(name)  # an undeclared name is a bug: fail before writing anything
    try:
        yield
    except Exception as error:
        emit(declared, names, "failed", error=str(error)[:500], **extra)
        raise
    emit(declared, names, "succeeded", **extra)
