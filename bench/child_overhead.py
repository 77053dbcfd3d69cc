"""Per-child orchestration overhead, four ways, side by side in one run.

    hatch run ops:python bench/child_overhead.py [--children 8] [--sleep 1.0]

- stock:     run_deployment defaults (blocks, polls every 5 s) on a worker with default polling (10 s)
- cold:      the platform before the warm launcher: run_deployment(timeout=0) + wait_for_flow_run
             (event-driven) on a worker polling every second, `python -m prefect.engine` per run
- warm:      the platform today: as cold, each run taken on its Scheduled event by the platform's
             worker (jaffle_runtime.worker, polling every 2 s besides) and forked from a warm parent
             (jaffle_runtime.launcher), the pool's template as `up` makes it
- subflow:   the same flow called in-process as a subflow (the baseline the ratios are against)

Each child sleeps --sleep seconds (its "work"). It starts its own Prefect server (SQLite, temporary
home, a free loopback port, authenticated), three process workers and a warm parent, and prints
p50/p90 seconds per child and the ratios to the in-process subflow and to stock.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import free_port, stop, wait_healthy

HERE = Path(__file__).resolve().parent


def quantiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return statistics.median(ordered), p90


PHASES = (
    ("create", "asked to created"),
    ("pickup", "created to Pending (a worker took it)"),
    ("launch", "Pending to Running (process start, imports, engine setup)"),
    ("run", "Running to its end (the flow body)"),
    ("notice", "its end to the parent knowing"),
)


def phases(asked: float, elapsed: float, states: list) -> dict[str, float]:
    """Where one child's seconds went, from its state timestamps (and the parent's clock)."""
    at = {state.type.value: state.timestamp.timestamp() for state in states}
    created = min(state.timestamp.timestamp() for state in states)
    pending = at.get("PENDING", created)
    running = at.get("RUNNING", pending)
    ended = max(at.get(kind, running) for kind in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"))
    return {
        "create": created - asked,
        "pickup": pending - created,
        "launch": running - pending,
        "run": ended - running,
        "notice": asked + elapsed - ended,
    }


def print_phases(timed: dict[str, list[tuple[float, float, str]]]) -> None:
    """Median seconds per phase and mode, read from the API's state history of every child run."""
    from uuid import UUID

    from prefect import get_client

    async def read() -> dict[str, dict[str, float]]:
        medians = {}
        async with get_client() as client:
            for mode, runs in timed.items():
                split = []
                for elapsed, asked, run_id in runs:
                    states = await client.read_flow_run_states(UUID(run_id))
                    split.append(phases(asked, elapsed, states))
                medians[mode] = {name: statistics.median(s[name] for s in split) for name, _ in PHASES}
        return medians

    medians = asyncio.run(read())
    print("\nmedian seconds per phase (state timestamps; the clocks are one machine's)")
    print(f"{'mode':<10} " + " ".join(f"{name:>8}" for name, _ in PHASES))
    for mode, cells in medians.items():
        print(f"{mode:<10} " + " ".join(f"{cells[name]:>8.2f}" for name, _ in PHASES))
    for name, meaning in PHASES:
        print(f"  {name}: {meaning}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=8)
    parser.add_argument("--sleep", type=float, default=1.0, help="each child's work, in seconds")
    parser.add_argument(
        "--modes",
        default="stock,cold,warm,subflow",
        help="which modes to run, comma-separated (the subflow, the baseline, always runs)",
    )
    args = parser.parse_args()
    unknown = set(args.modes.split(",")) - {"stock", "cold", "warm", "subflow"}
    if unknown:
        parser.error(f"unknown modes {sorted(unknown)}; choose from stock, cold, warm, subflow")
    home = Path(tempfile.mkdtemp(prefix="bench-prefect-"))
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    # Authenticated like every server the project starts (the platform's cost includes it).
    auth = f"bench:{secrets.token_urlsafe(24)}"
    env = {
        **os.environ,
        "PREFECT_API_URL": api,
        "PREFECT_HOME": str(home),
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home}/prefect.db",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_API_AUTH_STRING": auth,
        "PREFECT_API_AUTH_STRING": auth,
    }
    os.environ.update({k: env[k] for k in ("PREFECT_API_URL", "PREFECT_HOME", "PREFECT_API_AUTH_STRING")})
    prefect = str(Path(sys.executable).parent / "prefect")

    def log(name: str):  # every process's output, kept in the bench's home for a look afterwards
        return (home / f"{name}.log").open("w")

    print(f"logs in {home}", flush=True)
    procs = [
        subprocess.Popen(
            [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log("server"),
            stderr=subprocess.STDOUT,
        )
    ]
    try:
        wait_healthy(api)
        from prefect import flow
        from prefect.deployments import arun_deployment, run_deployment
        from prefect.flow_runs import wait_for_flow_run

        sys.path.insert(0, str(HERE))
        from jaffle_ops.admin import process_template
        from jaffle_runtime import launcher
        from trivial import trivial

        socket_path = home / "warm.sock"
        serve = ["serve", "--socket", str(socket_path), "--package", str(HERE), "--entrypoint", "trivial.py"]
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "jaffle_runtime.launcher", *serve],
                env=env,
                stdout=log("warm-parent"),
                stderr=subprocess.STDOUT,
            )
        )
        warm_env = {"PREFECT_WORKER_QUERY_SECONDS": "2", launcher.SOCKET_ENV: str(socket_path)}
        stock_worker = [prefect, "worker", "start", "--pool"]
        prompt_worker = [sys.executable, "-m", "jaffle_runtime.worker", "--name", "bench-warm", "--pool"]
        pools = (
            ("bench-stock", {}, False, stock_worker),
            ("bench-cold", {"PREFECT_WORKER_QUERY_SECONDS": "1"}, False, stock_worker),
            ("bench-warm", warm_env, True, prompt_worker),
        )
        for pool, extra, warm, worker in pools:
            template = home / f"{pool}.json"
            template.write_text(json.dumps(process_template(warm=warm)))
            create = [prefect, "work-pool", "create", pool, "--type", "process"]
            subprocess.run(
                [*create, "--base-job-template", str(template)],
                env=env,
                check=True,
                capture_output=True,
            )
            trivial.from_source(str(HERE), "trivial.py:trivial").deploy(name=pool, work_pool_name=pool)
            procs.append(
                subprocess.Popen(
                    [*worker, pool],
                    env={**env, **extra},
                    cwd=HERE,
                    stdout=log(f"worker-{pool}"),
                    stderr=subprocess.STDOUT,
                )
            )
        for _ in range(120):
            if socket_path.exists():
                break
            time.sleep(0.5)
        time.sleep(5)

        work = {"sleep": args.sleep}

        @flow(name="bench-stock-parent")
        def stock_parent(n: int) -> list[tuple[float, float, str]]:
            out = []
            for i in range(n):
                t, started = time.perf_counter(), time.time()
                run = run_deployment("bench-trivial/bench-stock", parameters={"n": i, **work})
                out.append((time.perf_counter() - t, started, str(run.id)))
            return out

        @flow(name="bench-event-parent")
        async def event_parent(n: int, deployment: str) -> list[tuple[float, float, str]]:
            out = []
            for i in range(n):
                t, started = time.perf_counter(), time.time()
                run = await arun_deployment(deployment, parameters={"n": i, **work}, timeout=0)
                await wait_for_flow_run(run.id)
                out.append((time.perf_counter() - t, started, str(run.id)))
            return out

        @flow(name="bench-subflow-parent")
        def subflow_parent(n: int) -> list[tuple[float, float, str]]:
            out = []
            for i in range(n):
                t, started = time.perf_counter(), time.time()
                state = trivial(i, **work, return_state=True)
                out.append((time.perf_counter() - t, started, str(state.state_details.flow_run_id)))
            return out

        modes = {
            "stock": lambda: stock_parent(args.children),
            "cold": lambda: asyncio.run(event_parent(args.children, "bench-trivial/bench-cold")),
            "warm": lambda: asyncio.run(event_parent(args.children, "bench-trivial/bench-warm")),
            "subflow": lambda: subflow_parent(args.children),
        }
        chosen = set(args.modes.split(",")) | {"subflow"}
        timed = {mode: measure() for mode, measure in modes.items() if mode in chosen}
        results = {mode: [elapsed for elapsed, _, _ in runs] for mode, runs in timed.items()}
        base50, base90 = quantiles(results["subflow"])
        stock50 = quantiles(results["stock"])[0] if "stock" in results else float("nan")
        print(f"\nper-child wall time, {args.children} children each sleeping {args.sleep:g} s")
        header = ("p50 s", "p90 s", "p50 / subflow", "p90 / subflow", "stock / p50")
        print(f"{'mode':<10} " + " ".join(f"{h:>14}" for h in header))
        for mode, samples in results.items():
            p50, p90 = quantiles(samples)
            ratios = (f"{p50 / base50:.2f}", f"{p90 / base90:.2f}", f"{stock50 / p50:.1f}")
            cells = (f"{p50:.2f}", f"{p90:.2f}", *ratios)
            print(f"{mode:<10} " + " ".join(f"{c:>14}" for c in cells))
        print_phases(timed)
        return 0
    finally:
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all(timeout=5)  # this process's last logs, while the server still answers
        for proc in reversed(procs):
            stop(proc, grace=30)


if __name__ == "__main__":
    sys.exit(main())
