"""The whole platform on Docker work pools: the same parent flow, every child in its team's container."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def docker_platform(tmp_path_factory):
    from docker.errors import DockerException, ImageNotFound

    import docker

    try:
        docker.from_env().images.get(BASE)
    except (DockerException, ImageNotFound) as error:
        message = f"no Docker engine or no base image {BASE}: {error}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    home, port = tmp_path_factory.mktemp("docker-platform"), free_port()

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "jaffle_coordinator.cli", "--home", str(home), "--port", str(port), *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env={**os.environ, "JAFFLE_BASE_IMAGE": BASE},
        )

    up = cli("up", "--infra", "docker", "--paused-schedules")
    assert up.returncode == 0, up.stdout + up.stderr
    yield cli, home, port
    cli("down")


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
