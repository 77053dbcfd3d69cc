"""Dashboards flows: deployed as `dashboards`."""

from __future__ import annotations

import posixpath
from datetime import UTC, date, datetime

from jaffle_contract import contracts, datasets, runtime
from jaffle_contract.parameters import parameter
from jaffle_contract.window import trailing_window
from jaffle_data import lineage as events
from prefect import flow, get_client, get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.sorting import FlowRunSort

from jaffle_dashboards import lineage, render
from jaffle_dashboards.settings import DashboardSettings

# The days the dashboard shows when no first day is given (the run form says so).
DEFAULT_DAYS = 90
FINAL = [StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED]
DECLARATIONS = contracts.load_installed("jaffle_dashboards")
DASHBOARD = "dashboards.dashboard"
# How far back the lineage view reads materializations (the server keeps events 7 days by default).
LINEAGE_DAYS = 30


def record_runtime() -> dict[str, str]:
    """Record which interpreter and library versions ran this flow (the isolation evidence)."""
    record = runtime.runtime_record(("prefect", "pandas", "plotly", "duckdb"))
    create_table_artifact(
        key=runtime.artifact_key("dashboards"), table=[record], description=runtime.DESCRIPTION
    )
    return record


@task(name="team-runs")
def team_runs() -> list[dict]:
    """When each team's flows last finished, and how, from the Prefect API."""
    rows = []
    with get_client(sync_client=True) as client:
        # Every deployment is named after its flow and runs on its team's pool (named after the team).
        by_team = sorted((d.work_pool_name or "", d.name) for d in client.read_deployments())
        for team, name in by_team:
            found = client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=[name])),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=FINAL))
                ),
                sort=FlowRunSort.END_TIME_DESC,
                limit=1,
            )
            run = found[0] if found else None
            rows.append(
                {
                    "team": team,
                    "flow": name,
                    "state": run.state.name if run and run.state else "never run",
                    "finished": run.end_time.strftime("%Y-%m-%d %H:%M UTC") if run and run.end_time else "",
                }
            )
    return rows


@task(name="read-materializations")
def read_materializations() -> list[lineage.Materialization]:
    """The latest materialization of every dataset the platform's runs reported (events API)."""
    with get_client(sync_client=True) as client:
        found = events.read_latest(client, LINEAGE_DAYS)
    out = []
    for event in found:
        dataset, said = events.dataset_of(event.resource.id), event.payload or {}
        if dataset is None:
            continue
        out.append(
            lineage.Materialization(
                dataset=dataset,
                status=event.event.removeprefix(events.MATERIALIZED),
                occurred=event.occurred,
                owner=said.get("owner"),
                freshness_hours=said.get("freshness_hours"),
                upstream=list(said.get("upstream") or []),
                location=said.get("location"),
                run_url=events.run_url(event),
            )
        )
    return out


@task(name="read-alerts")
def read_alerts() -> tuple[list[lineage.Alert], list[lineage.Materialization]]:
    """The platform's alerts (events API), and each dataset's latest successful materialization, which
    closes a failure alert sent before it."""
    with get_client(sync_client=True) as client:
        found = events.read_alerts(client, LINEAGE_DAYS)
        successes = events.read_latest(client, LINEAGE_DAYS, "succeeded")
    out = []
    for event in found:
        said = event.payload or {}
        named = said.get("held_back_datasets") or ([said["dataset"]] if said.get("dataset") else [])
        out.append(
            lineage.Alert(
                kind=event.event.rsplit(".", 1)[1],
                occurred=event.occurred,
                owner=str(said.get("owner") or "?"),
                subject=str(said.get("subject") or event.event),
                run_url=said.get("url") or None,
                datasets=[str(d) for d in named],
                dataset_owner=said.get("dataset_owner"),
            )
        )
    done = [
        lineage.Materialization(dataset, "succeeded", event.occurred)
        for event in successes
        if (dataset := events.dataset_of(event.resource.id))
    ]
    return out, done


@task(name="render-lineage")
def render_lineage(
    output_dir: str,
    materializations: list[lineage.Materialization],
    link: bool,
    alerts: tuple[list[lineage.Alert], list[lineage.Materialization]],
) -> dict:
    """Draw every dataset with its owner, last materialization, freshness and open alerts, and its
    upstreams."""
    storage = DashboardSettings().storage
    now = datetime.now(UTC)
    # What earlier drawings kept outlives the server's event retention.
    kept = posixpath.join(output_dir, "lineage.json")
    known = lineage.latest([*lineage.load(lambda: storage.read_bytes(kept)), *materializations])
    graph = lineage.build(known, now)
    sent, successes = alerts
    opened = lineage.open_alerts(sent, lineage.succeeded([*successes, *known]))
    lineage.attach(graph, opened)
    target = posixpath.join(output_dir, "lineage.html")
    render.write_file(lineage.page(graph, now), storage, target)
    render.write_file(lineage.save(known), storage, kept)
    if link:  # the platform's own view, the one the platform run's summary links to
        create_link_artifact(
            key=events.VIEW_ARTIFACT,
            link=storage.link(target),
            link_text="Data lineage: datasets, owners, freshness",
            description="Every dataset of the platform, its owner, last materialization and upstreams",
        )
    counts = {s: sum(1 for n in graph.nodes.values() if n.state == s) for s in lineage.STATES}
    if counts["stale"] or counts["failed"]:
        get_run_logger().warning(
            "Lineage: %s stale and %s failed dataset(s): %s",
            counts["stale"],
            counts["failed"],
            ", ".join(sorted(n.name for n in graph.nodes.values() if n.state in ("stale", "failed"))),
        )
    return {
        "path": storage.uri(target),
        "datasets": len(graph.nodes),
        "edges": len(graph.edges),
        **counts,
        "open_alerts": {name: [a.subject for a in alerts] for name, alerts in opened.items()},
    }


@task(name="render-dashboard")
def render_dashboard(start: date, end: date, output_dir: str, runs: list[dict]) -> dict:
    """Read the marts and the latest forecast, and write the HTML dashboard atomically."""
    settings = DashboardSettings()
    storage = settings.storage
    sources = render.Sources(
        warehouse=settings.warehouse("jaffle_shop"),
        attribution=settings.warehouse("attribution"),
        storage=storage,
    )
    data = render.load(sources, start, end)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    version, latest = render.write_page(render.render(data, runs), storage, output_dir, start, end, stamp)
    numbers = render.kpis(data)
    create_markdown_artifact(
        key="jaffle-shop-dashboard",
        markdown=render.headline_markdown(data, start, end),
        description="Headline numbers of the dashboard",
    )
    if not data.revenue.empty:
        create_table_artifact(
            key="jaffle-shop-revenue-by-store",
            table=render.revenue_by_store(data),
            description=f"Revenue and orders per store, {start} to {end}",
        )
    create_link_artifact(
        key="jaffle-shop-dashboard-link",
        link=storage.link(latest),
        link_text=f"Jaffle Shop dashboard {start} to {end}",
        description=f"The latest dashboard; this run's copy is {posixpath.basename(version)}",
    )
    if data.missing:
        get_run_logger().warning("Dashboard rendered without: %s", "; ".join(data.missing.values()))
    return {
        "path": storage.uri(latest),
        "version": storage.uri(version),
        "kpis": numbers,
        "missing": data.missing,
    }


@flow(name="dashboards")
def dashboards(
    start_date: date | None = parameter(
        None, "First day", "First day the dashboard shows. Empty: 90 days before the last day."
    ),
    end_date: date | None = parameter(None, "Last day", "Last day the dashboard shows. Empty: yesterday."),
    output_dir: str | None = parameter(
        None,
        "Output folder",
        "Where to write the HTML pages, inside the data folder (a path relative to it). Empty: dashboards/.",
        free=True,
    ),
) -> dict:
    """Render the Jaffle Shop dashboard (revenue and forecast, marketing, products, cohorts, freshness)."""
    window = trailing_window(start_date, end_date, DEFAULT_DAYS)
    start, end = window.start, window.end
    settings = DashboardSettings()
    target = datasets.inside_data_root(output_dir) if output_dir else settings.output_dir
    declared = DECLARATIONS.produced(DASHBOARD)
    written, error = {}, None
    try:
        with events.materializing(DECLARATIONS, [DASHBOARD], window=str(window)):
            written = render_dashboard(start, end, target, team_runs())
    except Exception as exc:  # the lineage view is drawn all the same: it shows the failure
        error = exc
    own = lineage.Materialization(
        DASHBOARD,
        "failed" if error else "succeeded",
        datetime.now(UTC),
        owner=DECLARATIONS.team,
        freshness_hours=declared.freshness_hours,
        upstream=list(declared.upstream),
        location=declared.location,
    )
    # This run's own materialization is still on its way to the server: the view counts it now.
    try:
        view = render_lineage(
            target, [*read_materializations(), own], target == settings.output_dir, read_alerts()
        )
    except Exception as lineage_error:  # the dashboard is this flow's product; the view is a bonus
        get_run_logger().error("Could not draw the lineage view: %s", lineage_error)
        view = {"error": str(lineage_error)}
    if error is not None:
        raise error
    get_run_logger().info("Dashboard written to %s; lineage view: %s", written["path"], view.get("path"))
    return {**written, "lineage": view, "runtime": record_runtime()}
