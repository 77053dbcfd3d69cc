"""Per-child orchestration overhead, four ways, side by side in one run.

    hatch run ops:python bench/child_overhead.py [--children 8] [--sleep 1.0]
        [--runtime-from REF] [--python NAME=INTERPRETER]

- stock:     run_deployment defaults (blocks, polls every 5 s) on a worker with default polling (10 s)
- cold:      the platform before the warm launcher: run_deployment(timeout=0) + wait_for_flow_run
             (event-driven) on a worker polling every second, `python -m prefect.engine` per run
- warm:      the platform today: as cold, each run taken on its Scheduled event by the platform's
             worker (jaffle_runtime.worker, polling every 2 s besides) and forked from a warm parent
             (jaffle_runtime.launcher), the pool's template as `up` makes it
- subflow:   the same flow called in-process as a subflow (the baseline the ratios are against)

Variants, each adding its own stock and warm modes beside the rest, on the same server:
- `--runtime-from REF`: the warm launcher and worker (libs/jaffle_runtime) as they were at git REF,
  before and after a change in one run (`warm@REF`, `stock@REF`);
- `--python NAME=INTERPRETER`: the workers, the warm parent and the runs in another environment, e.g.
  one with an older Prefect (`warm@NAME`, `stock@NAME`; its Prefect must not be newer than this one's,
  whose server they talk to).

Each child sleeps --sleep seconds (its "work"). It starts its own Prefect server (SQLite, temporary
home, a free loopback port, authenticated), the process workers and warm parents, and prints p50/p90
seconds per child and the ratios to the in-process subflow and to stock.
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
from dataclasses import dataclass
from pathlib import Path

from harness import free_port, stop, wait_healthy

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


@dataclass(frozen=True)
class Variant:
    """Where a variant's workers, warm parent and runs come from: an interpreter, and source folders put
    first on their path."""

    name: str
    python: str
    path: tuple[str, ...] = ()

    def env(self, env: dict[str, str]) -> dict[str, str]:
        """`env` for this variant's processes: its interpreter first on PATH (the pool's command says
        `python`), its source folders first on PYTHONPATH."""
        bin_dir = str(Path(self.python).parent)
        path = os.pathsep.join([*self.path, env.get("PYTHONPATH", "")]).strip(os.pathsep)
        return {**env, "PATH": os.pathsep.join([bin_dir, env.get("PATH", "")]), "PYTHONPATH": path}


def runtime_at(ref: str, home: Path) -> Variant:
    """The platform's runtime library as it was at git `ref`, checked out into `home`."""
    tree = home / f"runtime-{ref}"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), ref], check=True)
    return Variant(ref, sys.executable, (str(tree / "libs" / "jaffle_runtime" / "src"),))


def interpreter(spec: str) -> Variant:
    name, _, python = spec.partition("=")
    if not (name and python and Path(python).is_file()):
        raise SystemExit(f"--python {spec!r}: expected NAME=INTERPRETER, an interpreter that exists")
    return Variant(name, python)


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
    width = max(10, *(len(mode) + 1 for mode in medians))
    print(f"{'mode':<{width}} " + " ".join(f"{name:>8}" for name, _ in PHASES))
    for mode, cells in medians.items():
        print(f"{mode:<{width}} " + " ".join(f"{cells[name]:>8.2f}" for name, _ in PHASES))
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
    parser.add_argument("--runtime-from", metavar="REF", help="add warm and stock modes at git REF")
    parser.add_argument(
        "--python", action="append", default=[], metavar="NAME=INTERPRETER", help="add modes in it"
    )
    args = parser.parse_args()
    unknown = set(args.modes.split(",")) - {"stock", "cold", "warm", "subflow"}
    if unknown:
        parser.error(f"unknown modes {sorted(unknown)}; choose from stock, cold, warm, subflow")
    home = Path(tempfile.mkdtemp(prefix="bench-prefect-"))
    variants = [interpreter(spec) for spec in args.python]
    if args.runtime_from:
        variants.insert(0, runtime_at(args.runtime_from, home))
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

        def start(variant: Variant | None, pools: list[tuple[str, bool, list[str], dict[str, str]]]) -> Path:
            """A warm parent and the pools' workers of `variant` (None: this environment); its socket."""
            suffix = f"-{variant.name}" if variant else ""
            python = variant.python if variant else sys.executable
            own = variant.env(env) if variant else env
            socket_path = home / f"warm{suffix}.sock"
            serve = ["--socket", str(socket_path), "--package", str(HERE), "--entrypoint", "trivial.py"]
            command = [python, "-m", "jaffle_runtime.launcher", "serve", *serve]
            procs.append(
                subprocess.Popen(command, env=own, stdout=log(f"warm{suffix}"), stderr=subprocess.STDOUT)
            )
            for pool, warm, worker, extra in pools:
                pool += suffix
                template = home / f"{pool}.json"
                template.write_text(json.dumps(process_template(warm=warm)))
                create = [prefect, "work-pool", "create", pool, "--type", "process"]
                subprocess.run(
                    [*create, "--base-job-template", str(template)], env=env, check=True, capture_output=True
                )
                trivial.from_source(str(HERE), "trivial.py:trivial").deploy(name=pool, work_pool_name=pool)
                if warm:
                    extra = {**extra, launcher.SOCKET_ENV: str(socket_path)}
                worker = [python if part == "python" else part for part in worker]
                if worker[0] == "prefect":
                    worker[0] = str(Path(python).parent / "prefect")
                procs.append(
                    subprocess.Popen(
                        [*worker, pool],
                        env={**own, **extra},
                        cwd=HERE,
                        stdout=log(f"worker-{pool}"),
                        stderr=subprocess.STDOUT,
                    )
                )
            return socket_path

        stock_worker = ["prefect", "worker", "start", "--pool"]
        prompt_worker = ["python", "-m", "jaffle_runtime.worker", "--name", "bench-warm", "--pool"]
        warm_env = {"PREFECT_WORKER_QUERY_SECONDS": "2"}
        stock_and_warm = [
            ("bench-stock", False, stock_worker, {}),
            ("bench-warm", True, prompt_worker, warm_env),
        ]
        cold = ("bench-cold", False, stock_worker, {"PREFECT_WORKER_QUERY_SECONDS": "1"})
        sockets = [start(None, [*stock_and_warm, cold])]
        sockets += [start(variant, stock_and_warm) for variant in variants]
        for _ in range(240):
            if all(path.exists() for path in sockets):
                break
            time.sleep(0.5)
        time.sleep(5)

        work = {"sleep": args.sleep}

        @flow(name="bench-stock-parent")
        def stock_parent(n: int, deployment: str) -> list[tuple[float, float, str]]:
            out = []
            for i in range(n):
                t, started = time.perf_counter(), time.time()
                run = run_deployment(deployment, parameters={"n": i, **work})
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

        def stock(suffix: str = "") -> list[tuple[float, float, str]]:
            return stock_parent(args.children, f"bench-trivial/bench-stock{suffix}")

        def warm(suffix: str = "") -> list[tuple[float, float, str]]:
            return asyncio.run(event_parent(args.children, f"bench-trivial/bench-warm{suffix}"))

        modes = {
            "stock": stock,
            "cold": lambda: asyncio.run(event_parent(args.children, "bench-trivial/bench-cold")),
            "warm": warm,
            "subflow": lambda: subflow_parent(args.children),
        }
        chosen = set(args.modes.split(",")) | {"subflow"}
        timed = {mode: measure() for mode, measure in modes.items() if mode in chosen}
        for variant in variants:  # each variant's modes right after the same modes here
            for mode, measure in (("stock", stock), ("warm", warm)):
                if mode in chosen:
                    timed[f"{mode}@{variant.name}"] = measure(f"-{variant.name}")
        results = {mode: [elapsed for elapsed, _, _ in runs] for mode, runs in timed.items()}
        base50, base90 = quantiles(results["subflow"])

        def stock50(mode: str) -> float:  # the stock p50 of the mode's own variant
            variant = mode.partition("@")[2]
            stock = results.get(f"stock@{variant}" if variant else "stock")
            return quantiles(stock)[0] if stock else float("nan")

        print(f"\nper-child wall time, {args.children} children each sleeping {args.sleep:g} s")
        header = ("p50 s", "p90 s", "p50 / subflow", "p90 / subflow", "stock / p50")
        width = max(10, *(len(mode) + 1 for mode in results))
        print(f"{'mode':<{width}} " + " ".join(f"{h:>14}" for h in header))
        for mode, samples in results.items():
            p50, p90 = quantiles(samples)
            ratios = (f"{p50 / base50:.2f}", f"{p90 / base90:.2f}", f"{stock50(mode) / p50:.1f}")
            cells = (f"{p50:.2f}", f"{p90:.2f}", *ratios)
            print(f"{mode:<{width}} " + " ".join(f"{c:>14}" for c in cells))
        print_phases(timed)
        return 0
    finally:
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all(timeout=5)  # this process's last logs, while the server still answers
        for proc in reversed(procs):
            stop(proc, grace=30)
        for variant in variants:
            if variant.path:  # a checked-out tree of its own
                worktree = Path(variant.path[0]).parents[2]
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(worktree)])


if __name__ == "__main__":
    sys.exit(main())
