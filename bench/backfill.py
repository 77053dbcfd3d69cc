"""A backfill three ways over the same range on one platform, side by side: the grid, chunks in lock-step,
and a sequential loop of `data-platform` runs, each against the busiest team's summed work.

    hatch run ops:python bench/backfill.py [--days 90] [--chunk-days 7] [--chunks-at-once 2]

It brings up a platform in a temporary home (`./dev up`, a free loopback port) and first runs the day
before the range, so every mode finds the same warehouse. Then, over the same --days days:

- grid: `./dev backfill` (one cell per team deployment and chunk, each started once what it needs is
  done; caps per team);
- chunked: the backfill as it was before the grid, driven from here: --chunks-at-once chunks at a
  time, each running the plan level by level (the children of a level side by side), so every team
  moves in lock-step with its chunk;
- sequential: `./dev run` once per chunk, one after another.

Per mode: the wall time, and each team's summed work: the Running-to-terminal time of its runs, except
for the warehouse writers (dbt), whose runs also count their waits for the warehouse slot: for them, the
phases their builds log (parse, execute, publish, docs). The ratio is the wall time over the busiest
team's work (the goal for the grid: at most 1.5).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from harness import all_flow_runs, free_port
from platform_run import dev, stages, warehouse_work

ROOT = Path(__file__).resolve().parent.parent


def chunked(platform, start: date, end: date, chunk_days: int, at_once: int) -> None:
    """The pre-grid backfill: chunks `at_once` at a time, each the plan level by level."""
    from jaffle_ops import admin
    from prefect.deployments import run_deployment

    plan = stages()
    chunks = []
    day = start
    while day <= end:
        last = min(day + timedelta(days=chunk_days - 1), end)
        chunks.append((day, last))
        day = last + timedelta(days=1)

    def child(name: str, first: date, last: date) -> None:
        with admin.targeting(platform):
            run = run_deployment(
                f"{name}/{name}",
                parameters={"start_date": first.isoformat(), "end_date": last.isoformat()},
                flow_run_name=f"{name} {first}..{last} (chunked)",
                as_subflow=False,
                tags=["bench-chunked"],
            )
        if not (run.state and run.state.is_completed()):
            raise SystemExit(f"chunked: {run.name} ended {run.state and run.state.name}")

    def one_chunk(window: tuple[date, date]) -> None:
        for stage in plan:
            with ThreadPoolExecutor(len(stage)) as pool:
                list(pool.map(lambda name: child(name, *window), stage))

    with ThreadPoolExecutor(at_once) as pool:
        list(pool.map(one_chunk, chunks))


def sequential(env: dict[str, str], start: date, end: date, chunk_days: int) -> None:
    day = start
    while day <= end:
        last = min(day + timedelta(days=chunk_days - 1), end)
        dev(env, "run", "--start", day.isoformat(), "--end", last.isoformat())
        day = last + timedelta(days=1)


def team_work(platform, begun: datetime, ended: datetime) -> dict[str, float]:
    """Each team's summed work over the team runs that started between `begun` and `ended`."""
    from jaffle_ops import admin
    from jaffle_ops.workspace import teams
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterStartTime

    team_of = {d["name"]: team.env for team in teams(ROOT) for d in team.deployments}
    work: dict[str, float] = {}
    dbt_runs = []
    with admin.client(platform) as api:
        window = FlowRunFilter(start_time=FlowRunFilterStartTime(after_=begun, before_=ended))
        for run in all_flow_runs(api, window):
            deployment = run.name.split(" ", 1)[0]
            team = team_of.get(deployment)
            if team is None or team == "coordinator" or not (run.start_time and run.end_time):
                continue
            if team == "dbt-transform":
                dbt_runs.append(run.id)
                continue
            work[team] = work.get(team, 0.0) + (run.end_time - run.start_time).total_seconds()
        work["dbt-transform"] = warehouse_work(api, dbt_runs)
    return work


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--chunk-days", type=int, default=7)
    parser.add_argument("--chunks-at-once", type=int, default=2)
    parser.add_argument("--modes", default="grid,chunked,sequential")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)

    from jaffle_ops.local import Platform
    from jaffle_ops.settings import OpsSettings

    home = Path(tempfile.mkdtemp(prefix="bb-", dir="/tmp"))
    port = free_port()
    env = {**os.environ, "JAFFLE_PLATFORM_HOME": str(home), "JAFFLE_PLATFORM_PORT": str(port)}
    platform = Platform.from_settings(ROOT, OpsSettings(), home=home, port=port)
    end = date.today() - timedelta(days=1)
    start = end - timedelta(days=args.days - 1)
    modes = {
        "grid": lambda: dev(
            env,
            "backfill",
            "--start",
            start.isoformat(),
            "--end",
            end.isoformat(),
            "--chunk-days",
            str(args.chunk_days),
        ),
        "chunked": lambda: chunked(platform, start, end, args.chunk_days, args.chunks_at_once),
        "sequential": lambda: sequential(env, start, end, args.chunk_days),
    }
    results = {}
    try:
        dev(env, "up", "--paused-schedules")
        before = (start - timedelta(days=1)).isoformat()
        dev(env, "run", "--start", before, "--end", before)
        for mode in args.modes.split(","):
            begun = datetime.now(UTC)
            started = time.monotonic()
            modes[mode]()
            wall = time.monotonic() - started
            work = team_work(platform, begun, datetime.now(UTC))
            results[mode] = (wall, work)
            print(f"{mode}: {wall:.0f} s; " + ", ".join(f"{t} {s:.0f} s" for t, s in sorted(work.items())))
    finally:
        subprocess.run([str(ROOT / "dev"), "down"], env=env, capture_output=True)

    print(f"\nbackfill of {args.days} days ({start}..{end}) in {args.chunk_days}-day chunks")
    print(f"{'mode':<11} {'wall s':>8} {'busiest team':>14} {'its work s':>11} {'ratio':>7} {'vs grid':>8}")
    grid_wall = results.get("grid", (None,))[0]
    for mode, (wall, work) in results.items():
        busiest = max(work, key=lambda team: work[team])
        versus = f"{wall / grid_wall:8.2f}" if grid_wall else ""
        ratio = wall / work[busiest]
        print(f"{mode:<11} {wall:8.0f} {busiest:>14} {work[busiest]:11.0f} {ratio:7.2f} {versus}")
    print("(ratio: wall time over the busiest team's summed work; goal for the grid <= 1.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
