"""A backfill against one parent run over the same range, on one platform, side by side: the grid, one
`data-platform` run, and the two older ways (chunks in lock-step, a sequential loop of runs).

    hatch run ops:python bench/backfill.py [--days 365] [--modes one,grid] [--chunk-days N] [--cell TEAM=SIZE]

It brings up a platform in a temporary home (`./dev up`, a free loopback port) and first runs the day
before the range, so every mode finds the same warehouse. Then, over the same --days days, each mode in
turn:

- one: `./dev run --start --end`, one parent run over the whole range (a range of at most 366 days);
- grid: `./dev backfill` (its cells sized per team as the teams declare them; --chunk-days N sizes every
  team's cells N days, the grid as it was; --cell TEAM=SIZE one team's);
- chunked: the backfill as it was before the grid, driven from here: --chunks-at-once chunks at a
  time, each running the plan level by level (the children of a level side by side), so every team
  moves in lock-step with its chunk;
- sequential: `./dev run` once per chunk, one after another.

Per mode: the wall time, the range's orders a second, the ratio to the one run, the child runs it
made, and each team's summed work: the Running-to-terminal time of its runs, except for the warehouse
writers (dbt), whose runs also count their waits for the warehouse slot: for them, the phases their
builds log (parse, execute, publish, docs), also shown per dbt run. The goal for the grid: at most 1.5
times the one run.
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
from platform_run import dbt_phases, dev, lake_orders, stages

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


def team_work(platform, begun: datetime, ended: datetime) -> tuple[dict[str, float], dict[str, float], int]:
    """Over the team runs that started between `begun` and `ended`: each team's summed work, the dbt
    phases summed (with `runs`, the dbt runs' count, and `running`, their summed Running time), and how
    many team runs there were."""
    from jaffle_ops import admin
    from jaffle_ops.workspace import teams
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterStartTime

    team_of = {d["name"]: team.env for team in teams(ROOT) for d in team.deployments}
    work: dict[str, float] = {}
    dbt_runs, running, count = [], 0.0, 0
    with admin.client(platform) as api:
        window = FlowRunFilter(start_time=FlowRunFilterStartTime(after_=begun, before_=ended))
        for run in all_flow_runs(api, window):
            deployment = run.name.split(" ", 1)[0]
            team = team_of.get(deployment)
            if team is None or team == "coordinator" or not (run.start_time and run.end_time):
                continue
            count += 1
            seconds = (run.end_time - run.start_time).total_seconds()
            if team == "dbt-transform":
                dbt_runs.append(run.id)
                running += seconds
                continue
            work[team] = work.get(team, 0.0) + seconds
        phases = dbt_phases(api, dbt_runs)
    work["dbt-transform"] = sum(phases.values())
    return work, {**phases, "runs": len(dbt_runs), "running": running}, count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--modes", default="one,grid", help="of one, grid, chunked, sequential")
    parser.add_argument("--chunk-days", type=int, default=None, help="grid: every team's cells; else 7")
    parser.add_argument("--cell", action="append", default=[], help="grid: TEAM=DAYS or TEAM=once")
    parser.add_argument("--chunks-at-once", type=int, default=2)
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
    chunk_days = args.chunk_days or 7
    sizing = [*(["--chunk-days", str(args.chunk_days)] if args.chunk_days else [])]
    sizing += [flag for cell in args.cell for flag in ("--cell", cell)]
    span = ("--start", start.isoformat(), "--end", end.isoformat())
    modes = {
        "one": lambda: dev(env, "run", *span),
        "grid": lambda: dev(env, "backfill", *span, *sizing),
        "chunked": lambda: chunked(platform, start, end, chunk_days, args.chunks_at_once),
        "sequential": lambda: sequential(env, start, end, chunk_days),
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
            results[mode] = (wall, *team_work(platform, begun, datetime.now(UTC)))
            work = results[mode][1]
            print(f"{mode}: {wall:.0f} s; " + ", ".join(f"{t} {s:.0f} s" for t, s in sorted(work.items())))
        orders = lake_orders(env, start, end)
    finally:
        subprocess.run([str(ROOT / "dev"), "down"], env=env, capture_output=True)

    grid_sizes = " ".join(sizing) or "the teams' declared cell sizes"
    print(f"\n{args.days} days ({start}..{end}), {orders:,} orders; grid: {grid_sizes}")
    print(
        f"{'mode':<11} {'wall s':>7} {'orders/s':>9} {'vs one':>7} {'team runs':>10} "
        f"{'busiest team':>14} {'its work s':>11}"
    )
    one_wall = results.get("one", (None,))[0]
    for mode, (wall, work, _, runs) in results.items():
        busiest = max(work, key=lambda team: work[team])
        versus = f"{wall / one_wall:7.2f}" if one_wall else f"{'':>7}"
        print(
            f"{mode:<11} {wall:7.0f} {orders / wall:9,.0f} {versus} {runs:10d} "
            f"{busiest:>14} {work[busiest]:11.0f}"
        )
    print("(vs one: wall time over the one parent run's; the goal for the grid is at most 1.5)")
    print("\ndbt runs: where their seconds went (the phases they log, and Running time not in a phase:")
    print("starting, waiting for the warehouse slot, prefect-dbt's per-node reporting after dbt ended)")
    phases = sorted({p for _, _, dbt, _ in results.values() for p in dbt} - {"runs", "running"})
    print(f"{'mode':<11} {'runs':>5} {'running s':>10} " + " ".join(f"{p + ' s':>10}" for p in phases))
    for mode, (_, _, dbt, _) in results.items():
        cells = int(dbt.get("runs", 0))
        if cells:
            print(
                f"{mode:<11} {cells:5d} {dbt['running']:10.1f} "
                + " ".join(f"{dbt.get(p, 0.0):10.1f}" for p in phases)
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
