"""`up`, `down`, `status`, `demo`: the local platform's processes."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from jaffle_ops import admin, dataset_graph, recovery, secrets
from jaffle_ops.commands import runs
from jaffle_ops.deploying import deploy
from jaffle_ops.environments import hatch_env_path
from jaffle_ops.errors import PlatformError
from jaffle_ops.local import Platform
from jaffle_ops.processes import port_in_use, wait_until
from jaffle_ops.settings import OpsSettings
from jaffle_ops.workspace import OPS, Team, teams


def start_server(platform: Platform) -> None:
    processes = platform.processes
    pid = processes.pid_of("server")
    if pid:
        wait_until("Prefect server", lambda: admin.healthy(platform), 120, platform.logs / "server.log")
        print(f"server      reusing pid {pid} at {platform.ui_url}")
        return
    if port_in_use(platform.port):
        raise PlatformError(
            f"port {platform.port} on 127.0.0.1 is taken by a process this platform did not start; "
            f"stop it or choose another port with --port (or JAFFLE_PLATFORM_PORT)"
        )
    db = platform.prefect_home / "prefect.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    python = hatch_env_path(OPS) / "bin" / "python"
    env = platform.environ(
        python.parent,
        PREFECT_API_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{db}",
        PREFECT_SERVER_API_HOST="127.0.0.1",
        PREFECT_SERVER_API_PORT=str(platform.port),
        # Only holders of the secret may call the API (the UI asks for it), browsers only from the
        # UI's own origin, and every state-changing call carries a CSRF token.
        PREFECT_SERVER_API_AUTH_STRING=secrets.ensure_auth_string(platform.home),
        PREFECT_SERVER_CSRF_PROTECTION_ENABLED="true",
        PREFECT_SERVER_CORS_ALLOWED_ORIGINS=platform.ui_origins,
        **recovery.server_environment(),
    )
    # Prefect's server, its SQLite write transactions begun IMMEDIATE (`jaffle_ops.server` says why).
    command = [str(python), "-m", "jaffle_ops.server", "start", "--host", "127.0.0.1"]
    command += ["--port", str(platform.port)]
    pid = processes.spawn("server", command, platform.root, env)
    wait_until(
        "Prefect server",
        lambda: admin.healthy(platform) or not processes.pid_of("server"),
        180,
        platform.logs / "server.log",
    )
    if not processes.pid_of("server"):
        raise PlatformError(f"the Prefect server exited; see {platform.logs / 'server.log'}")
    print(f"server      started pid {pid} at {platform.ui_url} (SQLite at {db})")


def start_engine_proxy(platform: Platform) -> str:
    """For Docker pools: the engine proxy, on a socket in the home only this user may open; the Docker
    workers get its address instead of the engine's (`engine_proxy.py` says what it lets through)."""
    processes = platform.processes
    engine = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not engine.startswith("unix://"):
        raise PlatformError(f"the engine proxy needs the engine's local socket; DOCKER_HOST is {engine}")
    listen = platform.home / "engine" / "docker.sock"
    if not processes.pid_of("engine-proxy"):
        from jaffle_ops.pools import data_mount

        data, _ = data_mount(platform.docker_data, platform.data_dir, platform.data_url)  # all runs may bind
        listen.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        listen.unlink(missing_ok=True)
        python = hatch_env_path(OPS) / "bin" / "python"
        pid = processes.spawn(
            "engine-proxy",
            [
                str(python),
                "-m",
                "jaffle_ops.engine_proxy",
                f"--listen=unix:{listen}",
                f"--engine={engine.removeprefix('unix://')}",
                "--allow-network=host",
                *([f"--allow-bind={data}"] if data else []),
            ],
            platform.root,
            platform.environ(python.parent),
        )
        wait_until("engine proxy", listen.exists, 60, platform.logs / "engine-proxy.log")
        print(f"engine      proxy started pid {pid} at {listen}")
    return f"unix://{listen}"


def start_warm_parents(platform: Platform, all_teams: list[Team]) -> dict[str, Path]:
    """Each team's warm parent (`jaffle_runtime.launcher`): Prefect and the team's flow code imported
    once, in the team's environment; its process worker's runs are forked from it. Started together,
    then waited for (each is an interpreter importing its team's libraries)."""
    processes = platform.processes
    sockets = {team.env: platform.warm_socket(team.env) for team in all_teams}
    started = {}
    for team in all_teams:
        name, socket_path = f"warm-{team.env}", sockets[team.env]
        pid = processes.pid_of(name)
        if pid and socket_path.exists():
            print(f"warm        reusing pid {pid} for {team.env}")
            continue
        python = hatch_env_path(team.env) / "bin" / "python"
        command = [str(python), "-m", "jaffle_runtime.launcher", "supervise"]  # started again if it dies
        command += ["--socket", str(socket_path), "--package", str(team.package)]
        environ = platform.worker_environ(python.parent, team.package)
        started[team.env] = processes.spawn(name, command, team.package, environ)
    for env, pid in started.items():
        name = f"warm-{env}"

        def ready(name: str = name, socket_path: Path = sockets[env]) -> bool:
            if not processes.pid_of(name):
                raise PlatformError(f"the warm parent {name} exited; see {platform.logs / f'{name}.log'}")
            return socket_path.exists()

        wait_until(f"warm parent of {env}", ready, 180, platform.logs / f"{name}.log")
        print(f"warm        started pid {pid} for {env} at {sockets[env]}")
    return sockets


def start_workers(platform: Platform, all_teams: list[Team]) -> None:
    processes = platform.processes
    extra = {"DOCKER_HOST": start_engine_proxy(platform)} if platform.infra == "docker" else {}
    warm_sockets = start_warm_parents(platform, all_teams) if platform.warm else {}
    for team in all_teams:
        warm_socket = warm_sockets.get(team.env)
        for pool in team.pools:
            name = f"worker-{pool}"
            pid = processes.pid_of(name)
            if pid:
                print(f"worker      reusing pid {pid} for pool {pool}")
                continue
            # Process workers run inside the team's environment; Docker workers only start
            # containers, so they run in ops' environment (which has prefect-docker).
            env_name = team.env if platform.infra == "process" else OPS
            bin_dir = hatch_env_path(env_name) / "bin"
            if platform.infra == "process":  # Prefect's process worker, also woken by Scheduled events
                command = [str(bin_dir / "python"), "-m", "jaffle_runtime.worker", "--pool", pool]
            else:
                command = [str(bin_dir / "prefect"), "worker", "start", "--pool", pool, "--type", "docker"]
            pid = processes.spawn(
                name,
                [*command, "--name", f"{pool}-local"],
                team.package,
                {**platform.worker_environ(bin_dir, team.package, warm_socket), **extra},
            )
            print(f"worker      started pid {pid} for pool {pool} in {bin_dir.parent}")
    with admin.client(platform) as api:
        for team in all_teams:
            for pool in team.pools:

                def online(pool: str = pool) -> bool:
                    if not processes.pid_of(f"worker-{pool}"):
                        raise PlatformError(
                            f"the worker for {pool} exited; see {platform.logs / f'worker-{pool}.log'}"
                        )
                    return admin.worker_online(api, pool, f"{pool}-local")

                wait_until(f"worker for pool {pool}", online, 120, platform.logs / f"worker-{pool}.log")


def cmd_up(platform: Platform, args: argparse.Namespace) -> int:
    platform.local_only("up")
    all_teams = teams(platform.root)
    dataset_graph.check(platform.root)  # the parent's plan: runnable, and the one the coordinator reads
    wanted = args.infra or platform.infra
    running = [p for t in all_teams for p in t.pools if platform.processes.pid_of(f"worker-{p}")]
    if wanted != platform.infra and running:
        raise PlatformError(
            f"workers are running on {platform.infra} pools; `./dev down` first to switch to {wanted}"
        )
    platform.infra = wanted
    if launcher := OpsSettings().launcher:
        if launcher != platform.launcher and running:
            raise PlatformError(
                f"workers are running with the {platform.launcher} launcher; `./dev down` first to switch"
            )
        platform.launcher = launcher
    start_server(platform)
    admin.ensure_pools_and_limits(platform, all_teams)
    admin.store_secrets(platform, OpsSettings())
    for repaired in admin.repair_slots(platform):  # the leases of the server `up` manages are on disk
        print(f"limit       repaired {repaired}")
    deploy(platform, all_teams, paused=args.paused_schedules)
    if platform.infra == "kubernetes":
        print(
            "workers     none here: a Kubernetes pool's worker runs in the cluster "
            "(deploy/kubernetes/30-worker-<team>.yaml; see docs/scale.md)"
        )
    else:
        start_workers(platform, all_teams)
    print(
        f"\nThe platform is up. Prefect UI: {platform.ui_url}\n"
        f"UI login: the secret in {secrets.auth_file(platform.home)} (`./dev secret` prints it)\n"
        f"Data: {platform.data_dir}\nLogs: {platform.logs}\nNext: ./dev run   (or ./dev down)"
    )
    return 0


def cmd_status(platform: Platform, args: argparse.Namespace) -> int:
    tracked = platform.processes.tracked()
    server_ok = admin.healthy(platform)
    print(f"home        {platform.home}")
    print(f"server      {'up' if server_ok else 'down'} at {platform.ui_url}")
    launch = f"{platform.launcher} launcher" if platform.infra == "process" else "a container per run"
    print(f"runs        {platform.infra} pools, {launch}")
    for name, pid in tracked.items():
        print(
            f"{name:<24} {'running pid ' + str(pid) if pid else 'not running'}  log: "
            f"{platform.logs / (name + '.log')}"
        )
    if server_ok:
        with admin.client(platform) as prefect:
            for team in teams(platform.root):
                for pool in team.pools:
                    workers = admin.pool_workers(prefect, pool)
                    states = ", ".join(f"{name} {status}" for name, status in workers) or "none"
                    print(f"pool {pool:<18} workers: {states}")
    return 0 if server_ok and tracked and all(tracked.values()) else 1


def cmd_down(platform: Platform, args: argparse.Namespace) -> int:
    platform.local_only("down")
    processes = platform.processes
    # Workers first, so they do not log a lost server on their way out.
    for name in sorted(processes.tracked(), key=lambda n: n == "server"):
        pid = processes.stop(name)
        if pid:
            print(f"stopped     {name} (pid {pid})")
    print(f"data kept in {platform.data_dir}")
    return 0


def cmd_demo(platform: Platform, args: argparse.Namespace) -> int:
    platform.local_only("demo")
    cmd_up(platform, args)
    return runs.cmd_run(platform, args)


def cmd_secret(platform: Platform, args: argparse.Namespace) -> int:
    """Print the local platform's API secret (what the UI's login asks for)."""
    platform.local_only("secret")
    value = secrets.read_auth_string(platform.home)
    if value is None:
        raise PlatformError("this platform has no API secret yet: ./dev up makes one")
    print(value)
    return 0


def cmd_rotate_secret(platform: Platform, args: argparse.Namespace) -> int:
    """Replace the API secret; a running platform is restarted with it (runs in flight are retried)."""
    platform.local_only("rotate-secret")
    running = any(platform.processes.tracked().values())
    if running:
        cmd_down(platform, args)
    secrets.rotate(platform.home)
    print(f"secret      rotated: {secrets.auth_file(platform.home)} (log in to the UI again)")
    if running:  # the same server, pools, deployments and schedules: only the processes restart
        start_server(platform)
        start_workers(platform, teams(platform.root))
    return 0
