"""Lineage as Prefect events: what a run wrote, from what, by whom.

A flow that writes declared datasets wraps the writing in `materializing(...)`. When the block ends,
the run emits the events Prefect's own `@materialize` tasks emit: `prefect.asset.referenced` for each
dataset read, and one `prefect.asset.materialization.succeeded` per dataset written, naming its
declared upstreams as related assets (the flow run is attached by Prefect's events worker). A block
that raises emits `prefect.asset.materialization.failed` instead. Each materialization's payload
carries the declaration (owner, location, freshness, upstreams), so a reader of the events API alone
can draw the graph. Asset keys are `jaffle://<dataset>`. The platform's alerts are events too
(`read_alerts`): the lineage view shows which datasets each open one holds back.

prefect is imported when events are sent, not with this module, so reading the declarations needs no
Prefect client; the library declares prefect since sending does.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from jaffle_contract import alerts
from jaffle_contract.contracts import Declarations, Produced

SCHEME = "jaffle://"
MATERIALIZED = "prefect.asset.materialization."
REFERENCED = "prefect.asset.referenced"
# The link artifact (its latest version) that points at the lineage view; the platform run's summary
# links to it.
VIEW_ARTIFACT = "jaffle-lineage-view"


PAGE = 50  # the events API's largest page


def read_latest(client: Any, days: float, status: str | None = None) -> list[Any]:
    """The latest materialization event of every dataset the platform's runs reported in the last
    `days` (of `status` only, `succeeded` or `failed`, if given), from the events API; `client` is a sync
    Prefect client. The server keeps the latest event of each dataset, so one page holds a platform's."""
    from prefect.events.filters import EventNameFilter, EventResourceFilter

    names = (
        EventNameFilter(name=[MATERIALIZED + status]) if status else EventNameFilter(prefix=[MATERIALIZED])
    )
    return _read(client, days, names, EventResourceFilter(id_prefix=[SCHEME], distinct=True))


def read_alerts(client: Any, days: float) -> list[Any]:
    """Every alert the platform sent in the last `days` (`jaffle_contract.alerts`: a final failure, a
    dataset gone stale or fresh again), oldest first, from the same events API; `client` is a sync
    Prefect client."""
    from prefect.events.filters import EventNameFilter

    found = _read(client, days, EventNameFilter(name=list(alerts.KINDS)))
    return sorted(found, key=lambda event: event.occurred)


def _read(client: Any, days: float, names: Any, resource: Any = None) -> list[Any]:
    """Every page of the events named by `names` (and of `resource`, if given) in the last `days`."""
    from prefect.events.filters import EventFilter, EventOccurredFilter

    query = EventFilter(
        occurred=EventOccurredFilter(since=datetime.now(UTC) - timedelta(days=days)),
        event=names,
        resource=resource,
    )
    page = client.read_events(filter=query, limit=PAGE)
    found = list(page.events)
    while page.next_page:
        page = client.read_events_page(str(page.next_page))
        found += page.events
    return found


def flow_run_of(event: Any) -> str | None:
    """The id of the flow run that sent `event` (Prefect's events worker attaches the run)."""
    for related in event.related:
        if related.id.startswith("prefect.flow-run."):
            return str(related.id.removeprefix("prefect.flow-run."))
    return None


def run_url(event: Any) -> str | None:
    """The UI page of the flow run that sent `event` (None without a UI address or a run)."""
    from prefect.settings import PREFECT_UI_URL

    ui, run = PREFECT_UI_URL.value(), flow_run_of(event)
    return f"{ui}/runs/flow-run/{run}" if ui and run else None


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
