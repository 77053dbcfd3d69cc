"""Concurrent writers on the embedded SQLite server: stock `prefect server start` beside the
platform's server (`python -m jaffle_ops.server start`, write transactions begun IMMEDIATE).

    hatch run ops:python bench/sqlite_writes.py [--writers 8] [--runs 20] [--pollers 6]

Each writer creates --runs flow runs from one deployment and moves each through Pending, Running and
Completed, writing a log line, while --pollers workers poll the pool and heartbeat every 0.2 s:
what a backfill does to the server while a platform's workers wait. No client retries, so every
"database is locked" shows up. Prints, per server: calls answered, 503s, other failures (a dropped
connection counts), runs that reached Completed, wall seconds and completed runs per second, and
the platform's ratios to stock.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
from harness import free_port, stop, wait_healthy


async def workload(api: str, writers: int, runs: int, pollers: int) -> Counter[str]:
    tally: Counter[str] = Counter()
    async with httpx.AsyncClient(base_url=api, timeout=120) as client:

        async def call(path: str, body: object) -> httpx.Response | None:
            try:
                response = await client.post(path, json=body)
            except httpx.TransportError:
                tally["failed"] += 1
                return None
            tally["answered"] += 1
            if response.status_code == 503:
                tally["503"] += 1
            elif response.status_code >= 300:
                tally["failed"] += 1
            return response

        await call("/work_pools/", {"name": "bench", "type": "process"})
        flow = await call("/flows/", {"name": "bench"})
        assert flow is not None and flow.status_code < 300, "could not create the flow"
        spec = {"name": "bench", "flow_id": flow.json()["id"], "work_pool_name": "bench"}
        deployment = await call("/deployments/", spec)
        assert deployment is not None and deployment.status_code < 300, "could not create the deployment"
        deployment_id = deployment.json()["id"]
        writing = True

        async def writer() -> None:
            for _ in range(runs):
                created = await call(f"/deployments/{deployment_id}/create_flow_run", {})
                if created is None or created.status_code != 201:
                    continue
                run = created.json()["id"]
                for state in ("PENDING", "RUNNING", "COMPLETED"):
                    await call(f"/flow_runs/{run}/set_state", {"state": {"type": state}})
                line = {"name": "bench", "level": 20, "message": "row", "timestamp": "2026-01-01T00:00:00Z"}
                await call("/logs/", [{**line, "flow_run_id": run}])

        async def poller(index: int) -> None:
            while writing:
                await call("/work_pools/bench/get_scheduled_flow_runs", {})
                await call("/work_pools/bench/workers/heartbeat", {"name": f"worker-{index}"})
                await asyncio.sleep(0.2)

        polling = [asyncio.create_task(poller(i)) for i in range(pollers)]
        await asyncio.gather(*(writer() for _ in range(writers)))
        writing = False
        await asyncio.gather(*polling)
        completed = {"flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}}}
        done = await client.post("/flow_runs/count", json=completed)
        tally["completed"] = done.json() if done.status_code == 200 else 0
    return tally


def measure(name: str, command: list[str], args: argparse.Namespace) -> tuple[Counter[str], float]:
    home = Path(tempfile.mkdtemp(prefix=f"bench-sqlite-{name}-"))
    port = free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home}/prefect.db",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_ENABLED": "false",
    }
    env.pop("PREFECT_API_URL", None)
    with (home / "server.log").open("wb") as log:
        address = ["--host", "127.0.0.1", "--port", str(port)]
        server = subprocess.Popen([*command, *address], env=env, stdout=log, stderr=log)
    api = f"http://127.0.0.1:{port}/api"
    try:
        wait_healthy(api)
        started = time.perf_counter()
        tally = asyncio.run(workload(api, args.writers, args.runs, args.pollers))
        return tally, time.perf_counter() - started
    finally:
        stop(server)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--runs", type=int, default=20, help="flow runs each writer creates")
    parser.add_argument("--pollers", type=int, default=6)
    args = parser.parse_args()
    servers = {
        "stock": [str(Path(sys.executable).parent / "prefect"), "server", "start"],
        "platform": [sys.executable, "-m", "jaffle_ops.server", "start"],
    }
    results = {name: measure(name, command, args) for name, command in servers.items()}
    wanted = args.writers * args.runs
    print(f"{args.writers} writers x {args.runs} runs ({wanted} runs), {args.pollers} pollers")
    print(f"{'server':<10}{'answered':>10}{'503':>7}{'failed':>8}{'completed':>11}{'wall s':>9}{'runs/s':>9}")
    for name, (tally, wall) in results.items():
        rate = tally["completed"] / wall
        row = f"{tally['answered']:>10}{tally['503']:>7}{tally['failed']:>8}{tally['completed']:>11}"
        print(f"{name:<10}{row}{wall:>9.1f}{rate:>9.2f}")
    (stock, stock_wall), (ours, our_wall) = results["stock"], results["platform"]
    if stock["completed"]:
        ratio = (ours["completed"] / our_wall) / (stock["completed"] / stock_wall)
        print(f"platform/stock completed runs per second: {ratio:.2f}x")
    print(f"platform/stock runs completed: {ours['completed']}/{stock['completed']} of {wanted}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
