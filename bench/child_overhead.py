"""Per-child orchestration overhead, three ways, side by side in one run.

    hatch run platform:python bench/child_overhead.py [--children 8]

- stock:     run_deployment defaults (blocks, polls every 5 s) on a worker with default polling (10 s)
- platform:  run_deployment(timeout=0) + wait_for_flow_run (event-driven) on a worker polling every 1 s
- subflow:   the same flow called in-process as a subflow (the baseline the ratios are against)

It starts its own Prefect server (SQLite, temporary home, a free loopback port) and two process
workers, and prints p50/p90 seconds per child and the ratios to the in-process subflow.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def quantiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return statistics.median(ordered), p90


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=8)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bench-prefect-"))
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_API_URL": api,
        "PREFECT_HOME": str(home),
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home}/prefect.db",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    os.environ.update({k: env[k] for k in ("PREFECT_API_URL", "PREFECT_HOME")})
    prefect = str(Path(sys.executable).parent / "prefect")
    procs = [
        subprocess.Popen(
            [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        import httpx

        for _ in range(240):
            try:
                if httpx.get(f"{api}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        from prefect import flow
        from prefect.deployments import arun_deployment, run_deployment
        from prefect.flow_runs import wait_for_flow_run

        sys.path.insert(0, str(HERE))
        from trivial import trivial

        for pool, extra in (("bench-stock", {}), ("bench-platform", {"PREFECT_WORKER_QUERY_SECONDS": "1"})):
            subprocess.run(
                [prefect, "work-pool", "create", pool, "--type", "process"],
                env=env,
                check=True,
                capture_output=True,
            )
            trivial.from_source(str(HERE), "trivial.py:trivial").deploy(name=pool, work_pool_name=pool)
            procs.append(
                subprocess.Popen(
                    [prefect, "worker", "start", "--pool", pool],
                    env={**env, **extra},
                    cwd=HERE,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        time.sleep(5)

        @flow(name="bench-stock-parent")
        def stock_parent(n: int) -> list[float]:
            out = []
            for i in range(n):
                t = time.perf_counter()
                run_deployment("bench-trivial/bench-stock", parameters={"n": i})
                out.append(time.perf_counter() - t)
            return out

        @flow(name="bench-platform-parent")
        async def platform_parent(n: int) -> list[float]:
            out = []
            for i in range(n):
                t = time.perf_counter()
                run = await arun_deployment("bench-trivial/bench-platform", parameters={"n": i}, timeout=0)
                await wait_for_flow_run(run.id)
                out.append(time.perf_counter() - t)
            return out

        @flow(name="bench-subflow-parent")
        def subflow_parent(n: int) -> list[float]:
            out = []
            for i in range(n):
                t = time.perf_counter()
                trivial(i)
                out.append(time.perf_counter() - t)
            return out

        results = {
            "stock": stock_parent(args.children),
            "platform": asyncio.run(platform_parent(args.children)),
            "subflow": subflow_parent(args.children),
        }
        base50, base90 = quantiles(results["subflow"])
        print(f"\nper-child orchestration overhead, {args.children} trivial children each")
        print(f"{'mode':<10} {'p50 s':>8} {'p90 s':>8} {'p50 / subflow':>14} {'p90 / subflow':>14}")
        for mode, samples in results.items():
            p50, p90 = quantiles(samples)
            print(f"{mode:<10} {p50:8.2f} {p90:8.2f} {p50 / base50:14.1f} {p90 / base90:14.1f}")
        return 0
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
