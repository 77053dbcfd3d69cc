"""`jaffle-platform`: the local platform lifecycle, owned by the platform team.

    up        start the Prefect server (SQLite), one process work pool and one worker per team, each
              worker inside that team's own hatch environment; register every deployment
    run       trigger the coordinator's parent deployment for a date range and follow its children;
              --resume RUN_ID retries a parent that did not complete, reusing its completed children
    backfill  trigger the backfill deployment for a date range
    status    what is up
    deploy    register the deployments of some (default all) packages
    images    build teams' images with content-hash tags (push them with --registry, --prune old ones)
    affected  which teams the changes since a git ref affect (CI's matrix)
    down      stop exactly the processes `up` started; data stays
    demo      up, then run the last four weeks

Everything lives under the platform home (default `.platform/` in the checkout): the Prefect
database, logs of the server and workers, pid files, and the data (lake, warehouse, dashboards).
Team packages are found from the workspace's hatch environments that set `PLATFORM_PACKAGE`; no team
code is imported here.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import httpx

from jaffle_coordinator import recovery
from jaffle_coordinator.errors import PlatformError
from jaffle_coordinator.workspace import COORDINATOR_ENV, Team, repo_root, teams

DEFAULT_PORT = 4200


def _same_api(url: str) -> str:
    """A URL as a key for "is this the same API": no trailing slash, localhost as 127.0.0.1."""
    return url.strip().rstrip("/").replace("://localhost", "://127.0.0.1")


@dataclass
class Platform:
    root: Path
    home: Path
    port: int
    # A Prefect API this CLI did not start (another machine, the compose stack, Prefect Cloud):
    # deploy, run, backfill and status talk to it; up, down and demo manage only the local platform.
    remote_api_url: str | None = None
    # PREFECT_API_URL as this CLI found it (it then points its own at the platform): only for hints.
    ambient_api_url: str | None = None
    # A registry the team images are pushed to, for workers on other machines (JAFFLE_REGISTRY /
    # --registry); without one, deployments use the images built on this engine.
    registry: str | None = None

    @property
    def api_url(self) -> str:
        return self.remote_api_url or f"http://127.0.0.1:{self.port}/api"

    @property
    def ui_url(self) -> str:
        if self.remote_api_url:
            return self.remote_api_url.rstrip("/").removesuffix("/api")
        return f"http://127.0.0.1:{self.port}"

    def no_server(self) -> PlatformError:
        if self.remote_api_url:
            return PlatformError(f"no Prefect server at {self.api_url}: is it up?")
        hint = "run ./dev up first"
        if self.ambient_api_url and _same_api(self.ambient_api_url) != _same_api(self.api_url):
            hint += (
                f", or target PREFECT_API_URL ({self.ambient_api_url}) with "
                '--api-url "$PREFECT_API_URL" (or JAFFLE_API_URL)'
            )
        return PlatformError(f"no Prefect server at {self.api_url}: {hint}")

    def local_only(self, command: str) -> None:
        if self.remote_api_url:
            raise PlatformError(
                f"`{command}` manages the local platform's processes; it does not take --api-url "
                f"({self.remote_api_url}). Use deploy, run, backfill or status against that API."
            )

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def pids(self) -> Path:
        return self.home / "pids"

    @property
    def infra(self) -> str:
        """Where flow runs execute: `process` (each team's hatch environment) or `docker` (its image)."""
        path = self.home / "infra"
        return path.read_text().strip() if path.exists() else "process"

    @property
    def base_image(self) -> str:
        """The base of team images: the local debootstrap image where no registry is reachable."""
        return os.environ.get("JAFFLE_BASE_IMAGE", "jaffle-base:bookworm")

    @infra.setter
    def infra(self, value: str) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "infra").write_text(value + "\n")

    def environ(self, env_bin: Path | None = None, **extra: str) -> dict[str, str]:
        """The environment of a process we start: this platform's API, data, and (for a team's
        process) that team's interpreter first on PATH."""
        env = clean_environ()
        if env_bin:
            env["PATH"] = f"{env_bin}{os.pathsep}{env['PATH']}"
        env.update(
            {
                "PREFECT_API_URL": self.api_url,
                "PREFECT_UI_URL": self.ui_url,
                "PREFECT_HOME": str(self.home / "prefect"),
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_LOGGING_LEVEL": "INFO",
                "JAFFLE_DATA_DIR": str(self.data_dir),
                "JAFFLE_REPO_ROOT": str(self.root),
            }
        )
        env.update(extra)
        return env

    # --- processes ------------------------------------------------------------------------------
    def pid_of(self, name: str) -> int | None:
        path = self.pids / f"{name}.json"
        if not path.exists():
            return None
        record = json.loads(path.read_text())
        return record["pid"] if _alive(record["pid"], record.get("started")) else None

    def spawn(self, name: str, command: list[str], cwd: Path, env: dict[str, str]) -> int:
        self.logs.mkdir(parents=True, exist_ok=True)
        self.pids.mkdir(parents=True, exist_ok=True)
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child process
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        record = {"pid": process.pid, "started": _start_time(process.pid), "command": command}
        (self.pids / f"{name}.json").write_text(json.dumps(record))
        return process.pid

    def tracked(self) -> dict[str, int | None]:
        if not self.pids.exists():
            return {}
        return {p.stem: self.pid_of(p.stem) for p in sorted(self.pids.glob("*.json"))}


def clean_environ() -> dict[str, str]:
    """Our environment without the platform's own interpreter or hatch/Prefect settings leaking in."""
    own_bin = str(Path(sys.executable).parent)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_", "HATCH_ENV_"))
        and k not in {"VIRTUAL_ENV", "UV_CONSTRAINT", "PLATFORM_PACKAGE", "PYTHONPATH"}
    }
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != own_bin)
    return env


def _start_time(pid: int) -> str | None:
    # The process start time guards against a recycled pid: we only ever signal what we started.
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except OSError:
        return None


def _alive(pid: int, started: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    if started is not None and _start_time(pid) != started:
        return False
    state = (
        Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if Path(f"/proc/{pid}").exists()
        else "?"
    )
    return state != "Z"


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _healthy(platform: Platform) -> bool:
    try:
        return httpx.get(f"{platform.api_url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _wait(what: str, check, timeout: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    tail = ""
    if log and log.exists():
        tail = "\n--- last lines of " + str(log) + " ---\n" + "\n".join(log.read_text().splitlines()[-30:])
    raise PlatformError(f"{what} not ready after {timeout:.0f}s{tail}")


@functools.cache
def hatch_env_path(env: str) -> Path:
    """Create (if needed, from its lock) and locate a team's hatch environment."""
    clean = clean_environ()
    created = subprocess.run(["hatch", "env", "create", env], capture_output=True, text=True, env=clean)
    if created.returncode != 0:
        raise PlatformError(f"could not create the {env} environment:\n{created.stdout}{created.stderr}")
    found = subprocess.run(
        ["hatch", "env", "find", env], check=True, capture_output=True, text=True, env=clean
    )
    return Path(found.stdout.strip())


def _client(platform: Platform):
    # main() pointed PREFECT_API_URL at this platform before anything imported prefect.
    from prefect.client.orchestration import get_client

    return get_client(sync_client=True)


# --- commands -----------------------------------------------------------------------------------
def start_server(platform: Platform) -> None:
    pid = platform.pid_of("server")
    if pid:
        _wait("Prefect server", lambda: _healthy(platform), 120, platform.logs / "server.log")
        print(f"server      reusing pid {pid} at {platform.ui_url}")
        return
    if _port_in_use(platform.port):
        raise PlatformError(
            f"port {platform.port} on 127.0.0.1 is taken by a process this platform did not start; "
            f"stop it or choose another port with --port (or JAFFLE_PLATFORM_PORT)"
        )
    db = platform.home / "prefect" / "prefect.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    prefect = hatch_env_path(COORDINATOR_ENV) / "bin" / "prefect"
    env = platform.environ(
        prefect.parent,
        PREFECT_API_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{db}",
        PREFECT_SERVER_API_HOST="127.0.0.1",
        PREFECT_SERVER_API_PORT=str(platform.port),
        **recovery.server_environment(),
    )
    pid = platform.spawn(
        "server",
        [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(platform.port)],
        platform.root,
        env,
    )
    _wait(
        "Prefect server",
        lambda: _healthy(platform) or not platform.pid_of("server"),
        180,
        platform.logs / "server.log",
    )
    if not platform.pid_of("server"):
        raise PlatformError(f"the Prefect server exited; see {platform.logs / 'server.log'}")
    print(f"server      started pid {pid} at {platform.ui_url} (SQLite at {db})")


def ensure_pools_and_limits(platform: Platform, all_teams: list[Team], infra: str | None = None) -> None:
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    from jaffle_coordinator.settings import CoordinatorSettings

    infra = infra or platform.infra
    with _client(platform) as client:
        for team in all_teams:
            for pool in team.pools:
                try:
                    existing = client.read_work_pool(pool)
                    if existing.type == infra:
                        continue
                    # The infrastructure changed (e.g. `up --infra docker` after a process run).
                    client.delete_work_pool(pool)
                except ObjectNotFound:
                    pass
                client.create_work_pool(WorkPoolCreate(name=pool, type=infra))
                print(f"work pool   created {pool} ({infra})")
        name = CoordinatorSettings().warehouse_limit
        try:
            client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            try:
                client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
                print(f"limit       created global concurrency limit {name}=1")
            except ObjectAlreadyExists:
                pass
        if recovery.ensure_crash_automation(client):
            print(
                f"automation  {recovery.CRASH_AUTOMATION}: runs silent for {recovery.CRASH_AFTER_SECONDS}s "
                "are marked Crashed"
            )


def deploy(
    platform: Platform,
    selected: list[Team],
    paused: bool = False,
    infra: str | None = None,
    network: str = "host",
) -> None:
    """Register a package's deployments from its prefect.yaml, inside that team's environment; on
    Docker infrastructure, build that team's image (only that team's) and point them at it."""
    infra = infra or platform.infra
    for team in selected:
        env_bin = hatch_env_path(team.env) / "bin"
        started = time.monotonic()
        result = subprocess.run(
            [str(env_bin / "prefect"), "--no-prompt", "deploy", "--all"],
            cwd=team.package,
            env=platform.environ(env_bin),
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise PlatformError(f"deploying {team.package.name} failed:\n{result.stdout}\n{result.stderr}")
        names = [d["name"] for d in team.deployments]
        if infra == "docker":
            # `prefect deploy --all` ignores --job-variable, so point the deployments at the image here.
            from prefect.client.schemas.actions import DeploymentUpdate

            variables = docker_job_variables(platform, team, network)
            with _client(platform) as client:
                for name in names:
                    deployment = client.read_deployment_by_name(f"{name}/{name}")
                    client.update_deployment(deployment.id, DeploymentUpdate(job_variables=variables))
        print(f"deployed    {team.package.name}: {', '.join(names)} ({time.monotonic() - started:.1f}s)")
    if paused:
        with _client(platform) as client:
            for deployment in client.read_deployments():
                if deployment.schedules:
                    client.pause_deployment(deployment.id)


def docker_job_variables(platform: Platform, team: Team, network: str = "host") -> dict:
    """Run this team's flows in its image: on the host network (the server is on 127.0.0.1) or a named
    Docker network (the compose stack's, where the server is `server`), the data folder mounted at
    /data, and the caller's uid so files written to the data folder stay the caller's."""
    from jaffle_coordinator import images

    built = images.build(
        platform.root,
        team.env,
        team.package,
        base_image=platform.base_image,
        ca_bundle=images.host_ca_bundle(),
    )
    print(f"image       {built.tag} ({'cached' if built.cached else f'built in {built.seconds:.0f}s'})")
    image, pull = built.tag, "Never"  # built on this engine; no registry to pull from
    if platform.registry:
        # IfNotPresent: the tag hashes the team's files, so a cached copy holds the same files
        image, pull = images.push(built.tag, platform.registry), "IfNotPresent"
        print(f"pushed      {image}")
    platform.data_dir.mkdir(parents=True, exist_ok=True)
    placement = {"network_mode": "host"} if network == "host" else {"networks": [network]}
    return {
        "image": image,
        "image_pull_policy": pull,
        **placement,
        "volumes": [f"{platform.data_dir}:/data"],
        "env": {"JAFFLE_DATA_DIR": "/data", **recovery.flow_run_environment()},
        "container_create_kwargs": {"user": f"{os.getuid()}:{os.getgid()}"},
        "stream_output": True,
        "auto_remove": True,  # each run records its container id in its runtime artifact
    }


def start_workers(platform: Platform, all_teams: list[Team]) -> None:
    for team in all_teams:
        for pool in team.pools:
            name = f"worker-{pool}"
            pid = platform.pid_of(name)
            if pid:
                print(f"worker      reusing pid {pid} for pool {pool}")
                continue
            # Process workers run inside the team's environment; Docker workers only start
            # containers, so they run in the platform's environment (which has prefect-docker).
            env_name = team.env if platform.infra == "process" else COORDINATOR_ENV
            prefect = hatch_env_path(env_name) / "bin" / "prefect"
            # Platform setting: poll the pool every second instead of every ten.
            env = platform.environ(
                prefect.parent,
                PREFECT_WORKER_QUERY_SECONDS="1",
                PREFECT_WORKER_PREFETCH_SECONDS="5",
                JAFFLE_PACKAGE_DIR=str(team.package),  # the deployments' pull step goes here
                **recovery.flow_run_environment(),  # heartbeats: a dead run is marked Crashed
            )
            pid = platform.spawn(
                name,
                [
                    str(prefect),
                    "worker",
                    "start",
                    "--pool",
                    pool,
                    "--type",
                    platform.infra,
                    "--name",
                    f"{pool}-local",
                ],
                team.package,
                env,
            )
            print(f"worker      started pid {pid} for pool {pool} in {prefect.parent.parent}")
    with _client(platform) as client:
        for team in all_teams:
            for pool in team.pools:

                def online(pool: str = pool) -> bool:
                    if not platform.pid_of(f"worker-{pool}"):
                        raise PlatformError(
                            f"the worker for {pool} exited; see {platform.logs / f'worker-{pool}.log'}"
                        )
                    workers = client.read_workers_for_work_pool(pool)
                    return any(
                        w.name == f"{pool}-local" and str(w.status).endswith("ONLINE") for w in workers
                    )

                _wait(f"worker for pool {pool}", online, 120, platform.logs / f"worker-{pool}.log")


def cmd_up(platform: Platform, args: argparse.Namespace) -> int:
    platform.local_only("up")
    all_teams = teams(platform.root)
    wanted = args.infra or platform.infra
    running = [t.env for t in all_teams for pool in t.pools if platform.pid_of(f"worker-{pool}")]
    if wanted != platform.infra and running:
        raise PlatformError(
            f"workers are running on {platform.infra} pools; `./dev down` first to switch to {wanted}"
        )
    platform.infra = wanted
    start_server(platform)
    ensure_pools_and_limits(platform, all_teams)
    with _client(platform) as client:  # the leases of the server `up` manages are on this disk
        for repaired in recovery.repair_slots(client, platform.home / "prefect" / "concurrency_leases"):
            print(f"limit       repaired {repaired}")
    deploy(platform, all_teams, paused=args.paused_schedules)
    start_workers(platform, all_teams)
    print(
        f"\nThe platform is up. Prefect UI: {platform.ui_url}\nData: {platform.data_dir}\n"
        f"Logs: {platform.logs}\nNext: ./dev run   (or ./dev down)"
    )
    return 0


def cmd_deploy(platform: Platform, args: argparse.Namespace) -> int:
    selected = select_teams(platform, args.teams)
    if not _healthy(platform):
        raise platform.no_server()
    infra = args.infra or platform.infra
    if args.docker_network != "host" and infra != "docker":
        raise PlatformError("--docker-network applies to Docker infrastructure: add --infra docker")
    if args.registry and infra != "docker":
        raise PlatformError("--registry applies to Docker infrastructure: add --infra docker")
    ensure_pools_and_limits(platform, selected, infra)
    deploy(platform, selected, args.paused_schedules, infra, args.docker_network)
    return 0


def _follow(platform: Platform, flow_run_id, poll: float = 1.0, patience: float = 300.0) -> int:
    """Print each child run's name, state, duration and link as they change; return the exit code.
    Rides out a server restart (up to `patience` seconds without an answer) instead of a traceback."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

    seen: dict[str, str] = {}
    lost_since: float | None = None
    with _client(platform) as client:
        while True:
            try:
                parent = client.read_flow_run(flow_run_id)
                children = client.read_flow_runs(
                    flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[f"parent:{flow_run_id}"]))
                )
            except (httpx.HTTPError, OSError) as error:
                if lost_since is None:
                    lost_since = time.monotonic()
                    print(f"  (lost the Prefect API at {platform.api_url}; waiting for it)", flush=True)
                if time.monotonic() - lost_since > patience:
                    raise platform.no_server() from error
                time.sleep(2)
                continue
            if lost_since is not None:
                print("  (the Prefect API is back)", flush=True)
                lost_since = None
            for run in sorted(children, key=lambda r: r.expected_start_time or r.created):
                state = run.state.name if run.state else "Unknown"
                if seen.get(str(run.id)) != state:
                    seen[str(run.id)] = state
                    duration = (
                        run.total_run_time.total_seconds()
                        if run.state and run.state.is_final()
                        else (run.estimated_run_time.total_seconds())
                    )
                    print(
                        f"  {run.name:<42} {state:<10} {duration:7.1f}s  "
                        f"{platform.ui_url}/runs/flow-run/{run.id}",
                        flush=True,
                    )
            if parent.state and parent.state.is_final():
                ok = parent.state.is_completed()
                print(
                    f"\n{parent.name}: {parent.state.name}" + ("" if ok else f"\n{parent.state.message}"),
                    flush=True,
                )
                return 0 if ok else 1
            time.sleep(poll)


def _trigger(platform: Platform, deployment: str, parameters: dict, name: str) -> int:
    if not _healthy(platform):
        raise platform.no_server()
    from prefect.deployments import run_deployment

    run = run_deployment(deployment, parameters=parameters, timeout=0, flow_run_name=name, as_subflow=False)
    print(f"{name}: {platform.ui_url}/runs/flow-run/{run.id}", flush=True)
    return _follow(platform, run.id)


def cmd_resume(platform: Platform, run_id: str) -> int:
    """Retry a parent run that did not complete, as the UI's Retry button does: the same run goes back
    to Scheduled (AwaitingRetry), its worker runs it again, and it reuses the children that completed."""
    import uuid

    from prefect.exceptions import ObjectNotFound
    from prefect.states import AwaitingRetry

    if not _healthy(platform):
        raise platform.no_server()
    try:
        flow_run_id = uuid.UUID(run_id)
    except ValueError:
        raise PlatformError(f"--resume takes a flow run id (a UUID), not {run_id!r}") from None
    with _client(platform) as client:
        try:
            run = client.read_flow_run(flow_run_id)
        except ObjectNotFound:
            raise PlatformError(f"no flow run {run_id} on {platform.api_url}") from None
        state = run.state.name if run.state else "Unknown"
        if run.state and run.state.is_completed():
            raise PlatformError(f"{run.name} already completed: nothing to resume")
        if not (run.state and run.state.is_final()):
            raise PlatformError(f"{run.name} is {state}, not finished: follow it in the UI or wait")
        if run.deployment_id is None:
            raise PlatformError(f"{run.name} was not started from a deployment, so no worker can rerun it")
        result = client.set_flow_run_state(
            run.id, AwaitingRetry(message=f"Resumed with ./dev run --resume after it ended {state}")
        )
        if result.status.value != "ACCEPT":
            raise PlatformError(f"the server refused to resume {run.name}: {result.details}")
    print(f"{run.name}: resuming after {state} at {platform.ui_url}/runs/flow-run/{run.id}", flush=True)
    return _follow(platform, run.id)


def cmd_run(platform: Platform, args: argparse.Namespace) -> int:
    from jaffle_coordinator.plan import resolve_window

    if getattr(args, "resume", None):
        if args.start or args.end or args.days:
            raise PlatformError("--resume reruns a run with its own window: drop --start, --end and --days")
        return cmd_resume(platform, args.resume)
    if args.days and args.start is None:
        end = args.end or date.today() - timedelta(days=1)
        args.start = end - timedelta(days=args.days - 1)
        args.end = end
    window = resolve_window(args.start, args.end)
    parameters = {**window.parameters(), "fire_and_forget": args.fire_and_forget or []}
    return _trigger(platform, "data-platform/data-platform", parameters, f"data-platform {window}")


def cmd_backfill(platform: Platform, args: argparse.Namespace) -> int:
    from jaffle_coordinator.plan import resolve_window

    window = resolve_window(args.start, args.end)
    parameters = {
        **window.parameters(),
        "chunk_days": args.chunk_days,
        "max_concurrent_chunks": args.max_concurrent_chunks,
    }
    return _trigger(
        platform, "data-platform-backfill/data-platform-backfill", parameters, f"backfill {window}"
    )


def cmd_status(platform: Platform, args: argparse.Namespace) -> int:
    tracked = platform.tracked()
    server_ok = _healthy(platform)
    print(f"home        {platform.home}")
    print(f"server      {'up' if server_ok else 'down'} at {platform.ui_url}")
    for name, pid in tracked.items():
        print(
            f"{name:<24} {'running pid ' + str(pid) if pid else 'not running'}  log: "
            f"{platform.logs / (name + '.log')}"
        )
    if server_ok:
        with _client(platform) as client:
            for team in teams(platform.root):
                for pool in team.pools:
                    workers = client.read_workers_for_work_pool(pool)
                    states = (
                        ", ".join(f"{w.name} {str(w.status).rsplit('.', 1)[-1]}" for w in workers) or "none"
                    )
                    print(f"pool {pool:<18} workers: {states}")
    return 0 if server_ok and tracked and all(tracked.values()) else 1


def cmd_down(platform: Platform, args: argparse.Namespace) -> int:
    platform.local_only("down")
    tracked = platform.tracked()
    # Workers first, so they do not log a lost server on their way out.
    for name in sorted(tracked, key=lambda n: n == "server"):
        pid = tracked[name]
        if pid:
            os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + 20
            while platform.pid_of(name) and time.monotonic() < deadline:
                time.sleep(0.2)
            if platform.pid_of(name):
                os.killpg(pid, signal.SIGKILL)
            print(f"stopped     {name} (pid {pid})")
        (platform.pids / f"{name}.json").unlink(missing_ok=True)
    print(f"data kept in {platform.data_dir}")
    return 0


def cmd_affected(platform: Platform, args: argparse.Namespace) -> int:
    from jaffle_coordinator.affected import affected

    try:
        found = affected(platform.root, args.since)
    except ValueError as error:
        raise PlatformError(str(error)) from None
    if args.json:
        print(json.dumps(found.as_json(), indent=2))
    else:
        for team in found.teams:
            print(f"{team:<12}{len(found.reasons[team])} changed file(s), e.g. {found.reasons[team][0]}")
        if not found.teams:
            print(f"no team is affected by the {len(found.changed)} file(s) changed since {args.since}")
    return 0


def select_teams(platform: Platform, names: list[str]) -> list[Team]:
    """Teams by environment or folder name (all when none are named); a clear error for unknown ones."""
    all_teams = teams(platform.root)
    unknown = set(names) - {t.env for t in all_teams} - {t.package.name for t in all_teams}
    if unknown:
        raise PlatformError(f"unknown package(s) {sorted(unknown)}; known: {[t.env for t in all_teams]}")
    return [t for t in all_teams if not names or t.env in names or t.package.name in names]


def cmd_images(platform: Platform, args: argparse.Namespace) -> int:
    from jaffle_coordinator import images

    for team in select_teams(platform, args.teams):
        built = images.build(
            platform.root, team.env, team.package, platform.base_image, images.host_ca_bundle()
        )
        how = "cached" if built.cached else f"built in {built.seconds:.1f}s"
        print(f"{team.env:<12}{built.tag}  {how}, {built.size_bytes / 1e6:.0f} MB", flush=True)
        if platform.registry:
            print(f"{'':<12}pushed {images.push(built.tag, platform.registry)}", flush=True)
        if args.prune:
            pruned = images.prune(team.env, built.tag)
            for tag in pruned.removed:
                print(f"{'':<12}removed {tag}")
            for tag in pruned.in_use:
                print(f"{'':<12}kept {tag}: a container uses it (docker rm it, then prune again)")
    return 0


def cmd_demo(platform: Platform, args: argparse.Namespace) -> int:
    platform.local_only("demo")
    cmd_up(platform, args)
    return cmd_run(platform, args)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="jaffle-platform", description=__doc__.split("\n\n")[0])
    top.add_argument(
        "--home",
        type=Path,
        default=os.environ.get("JAFFLE_PLATFORM_HOME"),
        help="platform home (default: .platform/ in the checkout)",
    )
    top.add_argument("--port", type=int, default=int(os.environ.get("JAFFLE_PLATFORM_PORT", DEFAULT_PORT)))
    top.add_argument(
        "--api-url",
        default=os.environ.get("JAFFLE_API_URL"),
        help="a Prefect API this CLI did not start, e.g. the compose stack's http://127.0.0.1:4200/api "
        "(deploy, run, backfill, status; default: the local platform's)",
    )
    sub = top.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start server, pools, deployments and workers")
    up.add_argument("--paused-schedules", action="store_true", help="deploy with schedules paused")
    up.add_argument(
        "--infra",
        choices=["process", "docker"],
        help="run flows in each team's environment (process, the default) or its image (docker)",
    )
    dep = sub.add_parser("deploy", help="register deployments of some packages (default all)")
    dep.add_argument("teams", nargs="*", help="teams (environment = folder name), e.g. ml dbt")
    dep.add_argument("--paused-schedules", action="store_true")
    dep.add_argument(
        "--infra",
        choices=["process", "docker"],
        help="the pools' type; docker builds only these teams' images (default: as `up` chose)",
    )
    registry = {
        "help": "push the images to this registry (e.g. ghcr.io/acme or 127.0.0.1:5000) and run "
        "flows from there, so workers on other machines can pull them (default: JAFFLE_REGISTRY)",
    }
    dep.add_argument("--registry", **registry)
    dep.add_argument(
        "--docker-network",
        default="host",
        help="Docker network of the flow containers (default host; jaffle-stack for docker/compose.yaml)",
    )
    for name in ("run", "demo"):
        run = sub.add_parser(name, help="run the platform for a date range and follow it")
        run.add_argument("--start", type=date.fromisoformat)
        run.add_argument("--end", type=date.fromisoformat)
        run.add_argument(
            "--days",
            type=int,
            default=28 if name == "demo" else None,
            help="the last N days up to --end (default yesterday)",
        )
        run.add_argument(
            "--fire-and-forget",
            action="append",
            metavar="DEPLOYMENT",
            help="do not wait for this child (only the last stage, e.g. dashboards)",
        )
        if name == "run":
            run.add_argument(
                "--resume",
                metavar="RUN_ID",
                help="retry this parent (or backfill) run: reuse its children that completed, rerun the rest",
            )
        if name == "demo":
            run.add_argument("--paused-schedules", action="store_true", help="deploy with schedules paused")
            run.add_argument("--infra", choices=["process", "docker"], help="as for `up`")
    back = sub.add_parser("backfill", help="backfill a date range in chunks")
    back.add_argument("--start", type=date.fromisoformat, required=True)
    back.add_argument("--end", type=date.fromisoformat, required=True)
    back.add_argument("--chunk-days", type=int, default=7)
    back.add_argument("--max-concurrent-chunks", type=int, default=2)
    img = sub.add_parser("images", help="build teams' images (default all); unchanged ones are cached")
    img.add_argument("teams", nargs="*", help="teams (environment = folder name), e.g. ml dbt")
    img.add_argument("--registry", **registry)
    img.add_argument(
        "--prune",
        action="store_true",
        help="then remove the tags of these teams' older builds (content tags, local or "
        "registry-qualified; never latest or a name you gave), freeing images no container uses",
    )
    aff = sub.add_parser("affected", help="which teams the changes since a git ref affect")
    aff.add_argument("--since", required=True, help="a git ref, e.g. origin/main or HEAD~1")
    aff.add_argument("--json", action="store_true", help="machine-readable output for CI")
    sub.add_parser("status", help="what is up")
    sub.add_parser("down", help="stop what up started; keep data")
    return top


COMMANDS = {
    "affected": cmd_affected,
    "images": cmd_images,
    "up": cmd_up,
    "deploy": cmd_deploy,
    "run": cmd_run,
    "backfill": cmd_backfill,
    "status": cmd_status,
    "down": cmd_down,
    "demo": cmd_demo,
}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        root = repo_root()
        platform = Platform(
            root=root,
            home=(args.home or root / ".platform").resolve(),
            port=args.port,
            remote_api_url=args.api_url,
            ambient_api_url=os.environ.get("PREFECT_API_URL"),
            registry=getattr(args, "registry", None) or os.environ.get("JAFFLE_REGISTRY"),
        )
        # Before anything imports prefect: this process talks to this platform's server.
        os.environ.update(
            {
                "PREFECT_API_URL": platform.api_url,
                "PREFECT_UI_URL": platform.ui_url,
                "PREFECT_HOME": str(platform.home / "prefect"),
            }
        )
        return COMMANDS[args.command](platform, args)
    except (PlatformError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as exc:
        print(f"error: {' '.join(map(str, exc.cmd))} exited with {exc.returncode}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
