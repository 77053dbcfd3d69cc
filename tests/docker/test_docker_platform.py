"""The whole platform on Docker work pools: the same parent flow, every child in its team's container."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.docker, pytest.mark.integration]
ROOT = Path(__file__).resolve().parents[2]
BASE = os.environ.get("JAFFLE_BASE_IMAGE", "jaffle-base:bookworm")
CHILDREN = {
    "raw-data-jaffle-shop": "runtime-ingestion",
    "raw-data-marketing": "runtime-ingestion",
    "dbt-jaffle-shop": "runtime-dbt",
    "dbt-attribution": "runtime-dbt",
    "sales-forecast": "runtime-ml",
    "dashboards": "runtime-dashboards",
}


@pytest.fixture(scope="module")
def docker_platform(engine, launch_platform):
    return launch_platform("--infra", "docker", "--paused-schedules", env={"JAFFLE_BASE_IMAGE": BASE})


def test_the_parent_flow_runs_every_child_in_its_teams_container(docker_platform):
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterName,
        FlowRunFilterTags,
    )

    cli, home, port = docker_platform
    run = cli("run", "--start", "2024-02-01", "--end", "2024-02-03")
    assert run.returncode == 0, run.stdout + run.stderr

    client = SyncPrefectClient(f"http://127.0.0.1:{port}/api")
    parent = client.read_flow_runs(
        flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=["data-platform 2024-02-01..2024-02-03"]))
    )[0]
    assert parent.state.is_completed()
    children = client.read_flow_runs(
        flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[f"parent:{parent.id}"]))
    )
    by_deployment = {}
    for child in children:
        deployment = client.read_deployment(child.deployment_id)
        assert child.state.is_completed(), (child.name, child.state)
        assert deployment.job_variables["image"].startswith("jaffle-")
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[child.id]))
        )
        runtime = next(a.data for a in artifacts if a.key == CHILDREN[deployment.name])
        by_deployment[deployment.name] = (json.loads(runtime) if isinstance(runtime, str) else runtime)[0]
    assert set(by_deployment) == set(CHILDREN)
    containers = {name: r["container_id"] for name, r in by_deployment.items()}
    assert all(len(c) == 12 for c in containers.values()), containers  # each ran in a container
    assert len(set(containers.values())) == len(CHILDREN)  # each child in its own
    assert {r["sys_prefix"] for r in by_deployment.values()} == {"/opt/venv"}  # the image's venv
    assert (home / "data" / "dashboards" / "latest.html").exists()  # data landed on the mounted volume


def test_deploying_one_team_builds_only_its_image_and_registers_only_its_deployments(docker_platform):
    from prefect.client.orchestration import SyncPrefectClient

    cli, _, port = docker_platform
    client = SyncPrefectClient(f"http://127.0.0.1:{port}/api")
    before = {d.name: d.updated for d in client.read_deployments()}
    deployed = cli("deploy", "ml", "--infra", "docker")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    built = [line.split()[1] for line in deployed.stdout.splitlines() if line.startswith("image ")]
    assert len(built) == 1 and built[0].startswith("jaffle-ml:"), deployed.stdout
    after = {d.name: d.updated for d in client.read_deployments()}
    changed = {name for name in after if after[name] != before.get(name)}
    assert changed == {"sales-forecast"}, changed
    assert client.read_deployment_by_name("sales-forecast/sales-forecast").job_variables["image"] == built[0]


def test_a_team_deployed_through_a_registry_runs_from_the_image_its_worker_pulls(
    docker_platform, engine, registry, only_in_registry
):
    """What a worker on another machine does: the deployment names the registry's image, and the
    worker, on an engine without that image, pulls it before the flow runs in it."""
    from prefect.client.orchestration import SyncPrefectClient

    cli, _, port = docker_platform
    deployed = cli("deploy", "ml", "--infra", "docker", "--registry", registry.address)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    [remote] = [line.split()[1] for line in deployed.stdout.splitlines() if line.startswith("pushed ")]
    name, _, tag = remote.removeprefix(f"{registry.address}/").partition(":")
    assert name == "jaffle-ml" and tag in registry.tags(name)

    client = SyncPrefectClient(f"http://127.0.0.1:{port}/api")
    deployment = client.read_deployment_by_name("sales-forecast/sales-forecast")
    assert deployment.job_variables["image"] == remote
    assert deployment.job_variables["image_pull_policy"] == "IfNotPresent"

    with only_in_registry(remote) as image_id:
        run = client.create_flow_run_from_deployment(
            deployment.id, parameters={"start_date": "2024-02-01", "end_date": "2024-02-03"}
        )
        deadline = time.monotonic() + 600  # a deadline for a stuck run, not a performance check
        while not (run := client.read_flow_run(run.id)).state.is_final() and time.monotonic() < deadline:
            time.sleep(2)
        assert run.state.is_completed(), (run.state.name, run.state.message)
        assert engine.images.get(remote).id == image_id  # the worker pulled exactly the pushed image
