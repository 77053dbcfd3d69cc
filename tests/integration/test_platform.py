"""The whole platform for real: server, one worker per team in its own environment, the parent flow."""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import pytest
from jaffle_contract import contracts
from jaffle_data import lineage
from jaffle_ops.local import Platform
from jaffle_ops.settings import OpsSettings
from jaffle_ops.workspace import teams

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
START, END = date(2024, 2, 1), date(2024, 2, 28)


@pytest.fixture(scope="module")
def platform(launch_platform):
    # Not shared: its last test brings it down (and checks that the data stays).
    return launch_platform("--paused-schedules")


def children_of(client, parent_name: str):
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName, FlowRunFilterTags

    parent = client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[parent_name])))[
        0
    ]
    kids = client.read_flow_runs(
        flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[f"parent:{parent.id}"]))
    )
    return parent, kids


def runtime_artifact(client, flow_run_id, key: str) -> dict:
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    found = client.read_artifacts(
        artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
    )
    data = next(a.data for a in found if a.key == key)
    return (json.loads(data) if isinstance(data, str) else data)[0]


def locked(lock: str, package: str) -> str:
    return re.search(rf"^{package}==(\S+)", (ROOT / lock).read_text(), re.MULTILINE).group(1)


def test_up_again_reuses_what_is_running(platform):
    cli, home, _ = platform
    before = {p.name: json.loads(p.read_text())["pid"] for p in (home / "pids").glob("*.json")}
    again = cli("up", "--paused-schedules")
    assert again.returncode == 0, again.stderr
    workers = len(teams(ROOT))  # one per team and the coordinator's
    warm = Platform.from_settings(ROOT, OpsSettings(), home=home).warm  # each worker has a warm parent
    assert "server      reusing pid" in again.stdout
    assert again.stdout.count("worker      reusing pid") == workers
    assert again.stdout.count("warm        reusing pid") == (workers if warm else 0)
    after = {p.name: json.loads(p.read_text())["pid"] for p in (home / "pids").glob("*.json")}
    assert before == after and len(after) == 1 + workers * (2 if warm else 1)


def test_parent_flow_runs_every_team_in_its_own_environment(platform, platform_client):
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    cli, home, port = platform
    run = cli("run", "--start", START.isoformat(), "--end", END.isoformat())
    assert run.returncode == 0, run.stdout + run.stderr
    name = f"data-platform {START}..{END}"
    with platform_client(home, port) as client:
        parent, kids = children_of(client, name)
        assert parent.state.is_completed()
        states = {k.name.split(" ")[0]: k.state.name for k in kids}
        plan = json.loads((ROOT / "coordinator/src/jaffle_coordinator/graph.json").read_text())
        assert states == dict.fromkeys([child["name"] for child in plan["children"]], "Completed")
        assert len(states) == 6
        by_name = {k.name.split(" ")[0]: k for k in kids}
        ml = runtime_artifact(client, by_name["sales-forecast"].id, "runtime-ml-forecast")
        dbt = runtime_artifact(client, by_name["dbt-jaffle-shop"].id, "runtime-dbt-transform")
        ingestion = runtime_artifact(client, by_name["raw-data-jaffle-shop"].id, "runtime-ingestion")
        summary = next(
            a.data
            for a in client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[parent.id]))
            )
            if a.key == "platform-run-summary"
        )
    # every child's launch (created to Running) and run (Running to end), and the run's median launch
    latency = re.search(r"\*\*Launch latency:\*\* p50 ([0-9.]+) s over 6 child runs", summary)
    assert latency and float(latency.group(1)) > 0, summary
    for kid in kids:
        row = next(line for line in summary.splitlines() if line.startswith(f"| {kid.name} |"))
        launch, ran = (float(cell) for cell in row.split("|")[4:6])
        assert launch > 0 and ran > 0, row
    assert ml["sys_prefix"] != dbt["sys_prefix"] != ingestion["sys_prefix"]
    assert ml["pandas"] == locked("packages/ml_forecast/requirements.lock", "pandas")
    assert ml["statsforecast"] == locked("packages/ml_forecast/requirements.lock", "statsforecast")
    assert dbt["dbt-core"] == locked("packages/dbt_transform/requirements.lock", "dbt-core")
    assert ingestion["pandas"] == locked("packages/ingestion/requirements.lock", "pandas")
    assert ml["pandas"] != ingestion["pandas"]
    for team, name in ((ml, "ml-forecast"), (dbt, "dbt-transform"), (ingestion, "ingestion")):
        assert team["sys_prefix"].endswith(f"/{name}"), team["sys_prefix"]

    data = home / "data"
    orders = sorted((data / "lake/raw/jaffle_shop/orders").glob("date=*"))
    assert len(orders) == 28 and orders[0].name == "date=2024-02-01"
    assert len(list((data / "lake/raw/marketing/web_sessions").glob("date=*"))) == 28
    contract = json.loads((data / "lake/raw/jaffle_shop/orders/_schema.json").read_text())
    assert contract["primary_key"] == ["order_id"]
    dbt_python = Path(dbt["sys_prefix"]) / "bin" / "python"
    counts = subprocess.run(
        [
            str(dbt_python),
            "-c",
            (
                "import duckdb,sys; c=duckdb.connect(sys.argv[1], read_only=True);"
                "c.sql(f\"attach '{sys.argv[2]}' as attribution (read_only)\");"
                "print(*[c.sql(f'select count(*) from {t}').fetchone()[0] for t in "
                "('orders','order_items','customers','daily_store_revenue',"
                "'attribution.order_touchpoints','attribution.channel_performance')])"
            ),
            str(data / "warehouse/jaffle_shop.duckdb"),
            str(data / "warehouse/attribution.duckdb"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert len(counts) == 6
    assert all(int(n) > 0 for n in counts), counts
    assert (data / "lake/ml/revenue_forecast/as_of=2024-02-28/part-0.parquet").stat().st_size > 0
    page = (data / "dashboards/latest.html").read_text()
    assert "Daily revenue and forecast per store" in page and "as_of=2024-02-28" in page
    view = (data / "dashboards/lineage.html").resolve().as_uri()
    assert f"**Lineage:** [every dataset, its owner, last update and freshness]({view})" in summary
    assert 'data-missing="' not in page  # every section had its data
    assert (home / "logs" / "server.log").stat().st_size > 0


def _materializations(client) -> list:
    """Every successful dataset materialization the platform's runs reported, oldest first."""
    return _dataset_events(client, f"{lineage.MATERIALIZED}succeeded")


def _dataset_events(client, name: str) -> list:
    """Every event of that name about a dataset, oldest first."""
    from prefect.events.filters import EventFilter, EventNameFilter, EventOrder, EventResourceFilter

    query = EventFilter(
        event=EventNameFilter(name=[name]),
        resource=EventResourceFilter(id_prefix=[lineage.SCHEME]),
        order=EventOrder.ASC,
    )
    page = client.read_events(filter=query, limit=50)
    found = list(page.events)
    while page.next_page:
        page = client.read_events_page(str(page.next_page))
        found += page.events
    return found


def _wait_for(read, ready, seconds: float = 120):
    deadline = time.monotonic() + seconds
    while not ready(found := read()) and time.monotonic() < deadline:
        time.sleep(1)
    return found


def test_every_dataset_a_run_writes_has_one_materialization_with_its_declared_upstreams(
    platform, platform_client, chromium_page
):
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    cli, home, port = platform
    declared = contracts.load_all(ROOT)
    produced = {d.name: d for team in declared for d in team.produces}
    owners = {d.name: team.team for team in declared for d in team.produces}
    with platform_client(home, port) as client:
        if not client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[f"data-platform {START}..{END}"]))
        ):
            assert cli("run", "--start", START.isoformat(), "--end", END.isoformat()).returncode == 0
        # Events reach the API in batches, a few seconds after the runs that sent them.
        events = _wait_for(lambda: _materializations(client), lambda found: len(found) >= len(produced))
    written = sorted(lineage.dataset_of(e.resource.id) for e in events)
    assert written == sorted(produced), "one materialization per declared dataset, each written once"
    for event in events:
        dataset = produced[lineage.dataset_of(event.resource.id)]
        upstream = {r.id for r in event.related if r.role == "asset"}
        assert upstream == {lineage.asset_key(u) for u in dataset.upstream}, dataset.name
        assert any(r.id.startswith("prefect.flow-run.") for r in event.related), dataset.name
        assert event.payload["owner"] == owners[dataset.name]
    # Reads are references: every dataset some run reads was referenced, by a flow run.
    with platform_client(home, port) as client:
        references = _dataset_events(client, lineage.REFERENCED)
    read = {u for d in produced.values() for u in d.upstream}
    assert {lineage.dataset_of(e.resource.id) for e in references} == read
    assert all(any(r.id.startswith("prefect.flow-run.") for r in e.related) for e in references)

    # Draw the view again now that every event is in (the run's dashboards child drew it while the
    # last events were on their way), then look at it as a person would.
    with platform_client(home, port) as client:
        deployment = client.read_deployment_by_name("dashboards/dashboards")
        run = client.create_flow_run_from_deployment(deployment.id, parameters={"end_date": END.isoformat()})
        final = _wait_for(lambda: client.read_flow_run(run.id), lambda r: r.state and r.state.is_final(), 300)
    assert final.state.is_completed(), final.state
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(home / "data" / "dashboards")
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        chromium_page.goto(f"http://127.0.0.1:{server.server_address[1]}/lineage.html")
        nodes = chromium_page.eval_on_selector_all(
            "g.node", "gs => gs.map(g => [g.dataset.dataset, g.dataset.state])"
        )
        edges = chromium_page.eval_on_selector_all(
            "path.edge", "ps => ps.map(p => [p.dataset.from, p.dataset.to])"
        )
    finally:
        server.shutdown()
    assert sorted(name for name, _ in nodes) == sorted(produced)
    assert {state for _, state in nodes} == {"fresh"}, nodes
    assert sorted(map(tuple, edges)) == sorted((u, d.name) for d in produced.values() for u in d.upstream)


def test_failing_child_fails_parent_by_name_and_summary_still_runs(platform, platform_client):
    cli, home, port = platform
    run = cli("run", "--start", "2000-01-01", "--end", "2000-01-02")
    assert run.returncode == 1
    assert "raw-data-jaffle-shop 2000-01-01..2000-01-02' of deployment" in run.stdout
    assert "before the first Jaffle Shop opened on 2016-09-01" in run.stdout
    with platform_client(home, port) as client:
        parent, kids = children_of(client, "data-platform 2000-01-01..2000-01-02")
        assert parent.state.is_failed() and "raw-data-jaffle-shop" in parent.state.message
        assert {k.name.split(" ")[0] for k in kids} == {"raw-data-jaffle-shop", "raw-data-marketing"}
        from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[parent.id]))
        )
    summary = next(a for a in artifacts if a.key == "platform-run-summary")
    assert "failed: child run 'raw-data-jaffle-shop" in summary.data


def test_one_team_upgraded_on_a_live_platform_runs_its_canary_while_the_others_stay(
    platform, platform_client, repository_copy
):
    """`./dev upgrade prefect OLDER --team ml_forecast` against this running platform, from a copy of
    the repository (the lock really moves): only the ML team's worker and warm parent start again, from
    its re-made environment, and its canary run (the parameters of its last completed run) completes on
    the older Prefect while every other team's processes keep running."""
    from jaffle_ops import versions

    _, home, port = platform
    older = str(versions.oldest_version(ROOT))
    assert older != locked("packages/ml_forecast/requirements.lock", "prefect"), "pick an older release"
    pids = {p.stem: json.loads(p.read_text())["pid"] for p in (home / "pids").glob("*.json")}
    moved = subprocess.run(
        [
            *(sys.executable, "-m", "jaffle_ops", "--home", str(home), "--port", str(port)),
            *("upgrade", "prefect", older, "--team", "ml_forecast", "--no-tests"),
        ],
        cwd=repository_copy,
        env={**os.environ, "JAFFLE_REPO_ROOT": str(repository_copy)},
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert (
        f"prefect: {locked('packages/ml_forecast/requirements.lock', 'prefect')} -> {older}" in moved.stdout
    )
    assert "canary      sales-forecast: run with the parameters of sales-forecast" in moved.stdout
    assert "canary      sales-forecast: COMPLETED" in moved.stdout
    now = {p.stem: json.loads(p.read_text())["pid"] for p in (home / "pids").glob("*.json")}
    restarted = {name for name in pids if now.get(name) != pids[name]}
    assert restarted == {name for name in pids if name.endswith("ml-forecast")} and restarted, restarted
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

    with platform_client(home, port) as client:
        (canary,) = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=["canary"]))
        )
        assert canary.state.is_completed()
        assert canary.parameters["end_date"] == END.isoformat()  # the window that has data
        record = runtime_artifact(client, canary.id, "runtime-ml-forecast")
    assert record["prefect"] == older  # the team's new lock ran it, against the newer server
    assert record["pandas"] == locked("packages/ml_forecast/requirements.lock", "pandas")


def test_a_port_taken_by_something_else_is_a_clear_error(tmp_path, run_cli):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        up = run_cli("--home", tmp_path, "--port", port, "up")
    assert up.returncode == 2
    assert f"port {port} on 127.0.0.1 is taken by a process this platform did not start" in up.stderr


def test_down_stops_exactly_what_up_started_and_keeps_data(platform):
    cli, home, _ = platform
    pids = [json.loads(p.read_text())["pid"] for p in (home / "pids").glob("*.json")]
    down = cli("down")
    assert down.returncode == 0
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    assert (home / "data" / "warehouse" / "jaffle_shop.duckdb").exists()
    assert cli("status").returncode == 1
