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
# Every child of the parent (the coordinator's plan) and the runtime record its team's flow writes.
CHILDREN = {
    child["name"]: f"runtime-{child['team']}"
    for child in json.loads((ROOT / "coordinator/src/jaffle_coordinator/graph.json").read_text())["children"]
}


@pytest.fixture(scope="module")
def docker_platform(engine, launch_platform):
    # Shared by this module's tests; not with other tiers, whose pools are process pools.
    return launch_platform("--infra", "docker", "--paused-schedules", env={"JAFFLE_BASE_IMAGE": BASE})


def test_the_parent_flow_runs_every_child_in_its_teams_container(docker_platform, platform_client):
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

    client = platform_client(home, port)
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


def test_deploying_one_team_builds_only_its_image_and_registers_only_its_deployments(
    docker_platform, platform_client
):
    cli, home, port = docker_platform
    client = platform_client(home, port)
    before = {d.name: d.updated for d in client.read_deployments()}
    deployed = cli("deploy", "ml-forecast", "--infra", "docker")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    built = [line.split()[1] for line in deployed.stdout.splitlines() if line.startswith("image ")]
    assert len(built) == 1 and built[0].startswith("jaffle-ml-forecast:"), deployed.stdout
    after = {d.name: d.updated for d in client.read_deployments()}
    changed = {name for name in after if after[name] != before.get(name)}
    assert changed == {"sales-forecast"}, changed
    assert client.read_deployment_by_name("sales-forecast/sales-forecast").job_variables["image"] == built[0]


def test_a_team_deployed_through_a_registry_runs_from_the_image_its_worker_pulls(
    docker_platform, engine, registry, only_in_registry, platform_client
):
    """What a worker on another machine does: the deployment names the registry's image, and the
    worker, on an engine without that image, pulls it before the flow runs in it."""
    cli, home, port = docker_platform
    deployed = cli("deploy", "ml-forecast", "--infra", "docker", "--registry", registry.address)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    [remote] = [line.split()[1] for line in deployed.stdout.splitlines() if line.startswith("pushed ")]
    name, _, tag = remote.removeprefix(f"{registry.address}/").partition(":")
    assert name == "jaffle-ml-forecast" and tag in registry.tags(name)

    client = platform_client(home, port)
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


ESCALATIONS = (
    {"privileged": True},
    {"volumes": ["/:/host"]},
    {"container_create_kwargs": {"privileged": True, "pid_mode": "host"}},
    {"network_mode": "host"},
)


def _final(client, run):
    deadline = time.monotonic() + 600  # a deadline for a stuck run, not a performance check
    while not (run := client.read_flow_run(run.id)).state.is_final() and time.monotonic() < deadline:
        time.sleep(2)
    return run


def test_a_team_cannot_ask_its_docker_pool_for_a_way_onto_the_host(docker_platform, platform_client, engine):
    """A deployment or one run asking for privileges, a host folder or raw container options: no run of
    it is accepted. A team's code that rewrites its pool's template (every flow run holds the API
    secret, and open-source Prefect has no per-user permissions): the engine proxy refuses the container.
    The container a run does get has no privileges, every capability dropped, no new privileges, and
    only the data folder mounted (inspected while it exists)."""
    from jaffle_contract.runtime import artifact_key
    from prefect.client.schemas.actions import DeploymentUpdate, WorkPoolUpdate
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
    from prefect.exceptions import PrefectHTTPStatusError

    _, home, port = docker_platform
    client = platform_client(home, port)
    deployment = client.read_deployment_by_name("raw-data-marketing/raw-data-marketing")
    clean = dict(deployment.job_variables)
    window = {"start_date": "2024-02-01", "end_date": "2024-02-01"}
    for asked in ESCALATIONS:
        # one run asking: refused when it is created
        with pytest.raises(PrefectHTTPStatusError) as refused:
            client.create_flow_run_from_deployment(deployment.id, parameters=window, job_variables=asked)
        assert refused.value.response.status_code == 422, asked
        assert "Additional properties are not allowed" in refused.value.response.text, asked
        # the deployment asking (Prefect 3.8 does not check an update): no run of it is accepted
        client.update_deployment(deployment.id, DeploymentUpdate(job_variables={**clean, **asked}))
        with pytest.raises(PrefectHTTPStatusError) as refused:
            client.create_flow_run_from_deployment(deployment.id, parameters=window)
        assert refused.value.response.status_code == 422, asked
        client.update_deployment(deployment.id, DeploymentUpdate(job_variables=clean))

    # A team's code rewrites its pool's template: the engine proxy refuses what the worker then asks.
    pool = client.read_work_pool("ingestion")
    hostile = json.loads(json.dumps(pool.base_job_template))
    hostile["job_configuration"].update({"privileged": True, "volumes": ["/:/host"]})
    client.update_work_pool("ingestion", WorkPoolUpdate(base_job_template=hostile))
    try:
        run = _final(client, client.create_flow_run_from_deployment(deployment.id, parameters=window))
        assert not run.state.is_completed(), run.state
        log = (home / "logs" / "worker-ingestion.log").read_text()
        assert "refused by the platform's engine proxy: privileged containers are not allowed" in log
    finally:
        client.update_work_pool("ingestion", WorkPoolUpdate(base_job_template=pool.base_job_template))

    # A run's container, kept after the run (auto_remove is one of the variables a team may set).
    run = client.create_flow_run_from_deployment(
        deployment.id, parameters=window, job_variables={"auto_remove": False}
    )
    run = _final(client, run)
    assert run.state.is_completed(), (run.state.name, run.state.message)
    artifacts = client.read_artifacts(
        artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id]))
    )
    data = next(a.data for a in artifacts if a.key == artifact_key("ingestion"))
    record = (json.loads(data) if isinstance(data, str) else data)[0]
    container = engine.containers.get(record["container_id"])
    try:
        host = container.attrs["HostConfig"]
        assert host["Privileged"] is False
        assert host["CapDrop"] == ["ALL"] and not host.get("CapAdd")
        assert host["SecurityOpt"] == ["no-new-privileges:true"]
        assert host["Binds"] == [f"{home / 'data'}:/data"]
        assert not host.get("Devices") and host["PidMode"] == ""
        assert container.attrs["Config"]["User"] == f"{os.getuid()}:{os.getgid()}"
    finally:
        container.remove(force=True)


def test_a_docker_platform_on_a_named_volume_needs_nothing_of_the_deploying_machine(
    engine, launch_platform, platform_client
):
    """Deployed with `JAFFLE_DOCKER_DATA=volume:NAME`: the pools name the volume, not a folder or a uid of
    the machine that deployed them; the runs write it as the image's own user, whose /data a new volume
    copies."""
    import uuid

    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName, FlowRunFilterTags

    volume = f"jaffle-test-{uuid.uuid4().hex[:8]}"
    env = {"JAFFLE_BASE_IMAGE": BASE, "JAFFLE_DOCKER_DATA": f"volume:{volume}"}
    # Not the module's platform: this one's pools mount a named volume, the point of the test.
    cli, home, port = launch_platform("--infra", "docker", "--paused-schedules", env=env)
    try:
        run = cli("run", "--start", "2024-02-01", "--end", "2024-02-02")
        assert run.returncode == 0, run.stdout + run.stderr
        client = platform_client(home, port)
        [parent] = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                name=FlowRunFilterName(any_=["data-platform 2024-02-01..2024-02-02"])
            )
        )
        assert parent.state.is_completed()
        children = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[f"parent:{parent.id}"]))
        )
        assert len(children) == len(CHILDREN) and all(c.state.is_completed() for c in children)
        for pool in client.read_work_pools():
            job = pool.base_job_template["job_configuration"]
            assert job["volumes"] == [f"{volume}:/data"], pool.name
            assert "user" not in job["container_create_kwargs"], pool.name
            assert str(home) not in json.dumps(pool.base_job_template), pool.name
        assert not [p for p in (home / "data").rglob("*") if p.is_file()]  # nothing on this machine's disk
        listing = engine.containers.run(
            BASE,
            ["sh", "-c", "ls -n /data/dashboards/latest.html /data/warehouse/jaffle_shop.duckdb"],
            volumes={volume: {"bind": "/data", "mode": "ro"}},
            network_mode="none",
            remove=True,
        ).decode()
        assert listing.count(" 10001 10001 ") == 2, listing  # written by the image's user
    finally:
        cli("down")
        engine.volumes.get(volume).remove(force=True)
