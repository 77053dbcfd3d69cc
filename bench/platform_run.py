"""The whole platform run, end to end, against the pure work of its children, in one bench run.

    hatch run ops:python bench/platform_run.py [--days 28] [--launcher warm|stock] [--backfill-days 0]

It brings up a platform in a temporary home (`./dev up`, a free loopback port), runs the parent flow
over the last --days days (`./dev run`) and reads each child's launch (created to Running) and run
(Running to terminal) from the API. Then, in each team's own environment, it imports the child's flow
script and calls the flow in process with the same parameters against the same server and data:
that call's wall time is the child's pure work (its imports timed apart). It prints the table, the
parent's wall time, the pure work on the critical path (the longest chain of children through the
coordinator's plan, each after the children it reads from) and their ratio; dbt's work split into
parse, execute, publish and docs. With
--backfill-days N: the wall time of a backfill of the N days before that window, its orders a second,
and each child's summed run time against that wall time.
(Not `platform.py`: a script's folder comes first on sys.path, and that name hides the standard
library's `platform` from every other script here.)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from harness import all_flow_runs, free_port

ROOT = Path(__file__).resolve().parent.parent
IN_PROCESS = """
import json, sys, time
from pathlib import Path
started = time.perf_counter()
from prefect.utilities.importtools import load_script_as_module
flow = getattr(load_script_as_module(sys.argv[1]), sys.argv[2])
imported = time.perf_counter()
result = flow(**json.loads(sys.argv[3]))
done = time.perf_counter()
phases = result.get("seconds", {}) if isinstance(result, dict) else {}
print(json.dumps({"imports": imported - started, "work": done - imported, "phases": phases}))
"""


def dev(env: dict[str, str], *args: str) -> float:
    started = time.monotonic()
    result = subprocess.run([str(ROOT / "dev"), *args], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"./dev {' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--launcher", choices=("warm", "stock"), default="warm")
    parser.add_argument("--backfill-days", type=int, default=0)
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # each report as soon as it is known

    from jaffle_ops import admin
    from jaffle_ops.environments import hatch_env_path
    from jaffle_ops.local import Platform
    from jaffle_ops.settings import OpsSettings
    from jaffle_ops.workspace import teams
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName, FlowRunFilterTags

    home = Path(tempfile.mkdtemp(prefix="bp-", dir="/tmp"))
    port = free_port()
    env = {
        **os.environ,
        "JAFFLE_PLATFORM_HOME": str(home),
        "JAFFLE_PLATFORM_PORT": str(port),
        "JAFFLE_LAUNCHER": args.launcher,
    }
    platform = Platform.from_settings(ROOT, OpsSettings(), home=home, port=port)
    end = date.today() - timedelta(days=1)
    start = end - timedelta(days=args.days - 1)
    try:
        up = dev(env, "up", "--paused-schedules")
        wall = dev(env, "run", "--start", start.isoformat(), "--end", end.isoformat())
        with admin.client(platform) as api:
            [parent] = api.read_flow_runs(
                flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[f"data-platform {start}..{end}"]))
            )
            kids = api.read_flow_runs(
                flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[f"parent:{parent.id}"]))
            )
        children = {next(t.removeprefix("child:") for t in k.tags if t.startswith("child:")): k for k in kids}
        entrypoints = {d["name"]: (team, d["entrypoint"]) for team in teams(ROOT) for d in team.deployments}
        rows = {}
        for name, kid in children.items():
            team, entrypoint = entrypoints[name]
            script, function = entrypoint.split(":")
            python = hatch_env_path(team.env) / "bin" / "python"
            measured = subprocess.run(
                [str(python), "-c", IN_PROCESS, script, function, json.dumps(kid.parameters)],
                cwd=team.package,
                env={**platform.environ(python.parent), "JAFFLE_PACKAGE_DIR": str(team.package)},
                capture_output=True,
                text=True,
            )
            if measured.returncode != 0:
                raise SystemExit(f"{name} in process failed:\n{measured.stderr[-4000:]}")
            pure = json.loads(measured.stdout.strip().splitlines()[-1])
            launch = (kid.start_time - kid.created).total_seconds()
            run = (kid.end_time - kid.start_time).total_seconds()
            rows[name] = {"launch": launch, "run": run, **pure}
        report(args, start, end, up, wall, rows)
        if args.backfill_days:
            report_backfill(args.backfill_days, dev_backfill(env, args.backfill_days, start, platform))
    finally:
        subprocess.run([str(ROOT / "dev"), "down"], env=env, capture_output=True)

    return 0


def report(args: argparse.Namespace, start: date, end: date, up: float, wall: float, rows: dict) -> None:
    """The parent run over the window against its children's pure work (printed at once)."""
    window = f"{args.days} days ({start}..{end})"
    print(f"\nthe platform over {window}, {args.launcher} launcher; up took {up:.0f} s")
    header = f"{'launch s':>9} {'run s':>8} {'in-process work s':>18} {'imports s':>10}"
    print(f"{'child':<22} {header}  work's phases")
    for name, row in rows.items():
        phases = ", ".join(f"{phase} {value:.2f}" for phase, value in row["phases"].items())
        times = f"{row['launch']:9.2f} {row['run']:8.2f} {row['work']:18.2f} {row['imports']:10.2f}"
        print(f"{name:<22} {times}  {phases}")
    # A child starts once the children it reads from are done: the longest chain of work is the floor.
    critical = critical_path({name: row["work"] for name, row in rows.items()})
    print(f"\nparent run wall time (./dev run)            {wall:8.1f} s")
    print(f"pure work on the critical path (in process) {critical:8.1f} s")
    print(f"ratio                                       {wall / critical:8.2f}  (goal <= 1.5)")


def report_backfill(days: int, backfill: dict) -> None:
    """A backfill's wall time, orders a second, and where its time went."""
    rate = backfill["rows"] / backfill["wall"]
    took, rows = backfill["wall"], backfill["rows"]
    print(f"\nbackfill of {days} days: {took:.0f} s, {rows:,.0f} orders, {rate:,.0f}/s")
    for name, seconds in sorted(backfill["work"].items(), key=lambda item: -item[1]):
        print(f"  {name:<22} summed run time {seconds:8.1f} s  {seconds / took:6.0%} of the wall time")
    held = backfill["warehouse"]
    print(
        f"  dbt's work, the critical path: the warehouse held by its builds (their logged phases) "
        f"{held:.1f} s, {held / took:.0%} of the wall time (goal >= 67%)"
    )


def plan_children() -> list[dict]:
    """The parent's children in order, each with the children it reads from (the coordinator's plan,
    generated from the teams' datasets)."""
    return json.loads((ROOT / "coordinator/src/jaffle_coordinator/graph.json").read_text())["children"]


def critical_path(work: dict[str, float]) -> float:
    """The longest chain of `work` through the plan: each child after the children it reads from."""
    done: dict[str, float] = {}
    for child in plan_children():
        start = max((done[name] for name in child["needs"]), default=0.0)
        done[child["name"]] = start + work.get(child["name"], 0.0)
    return max(done.values(), default=0.0)


def stages() -> list[list[str]]:
    """The plan as levels: each child one level after the deepest child it reads from (the pre-graph
    parent's stages, for the baselines that run level by level)."""
    level: dict[str, int] = {}
    for child in plan_children():
        level[child["name"]] = 1 + max((level[name] for name in child["needs"]), default=-1)
    return [[name for name, at in level.items() if at == depth] for depth in range(max(level.values()) + 1)]


def dev_backfill(env: dict[str, str], days: int, before: date, platform) -> dict:
    """Backfill the `days` days before `before`; its wall time, orders landed, and each child's summed
    run time (Running to terminal) over the backfill's child runs."""
    from jaffle_ops import admin
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterStartTime

    end = before - timedelta(days=1)
    start = end - timedelta(days=days - 1)
    begun = datetime.now(UTC)
    wall = dev(env, "backfill", "--start", start.isoformat(), "--end", end.isoformat())
    work: dict[str, float] = {}
    with admin.client(platform) as api:
        after = FlowRunFilter(start_time=FlowRunFilterStartTime(after_=begun))
        runs = all_flow_runs(api, after)
        deployments = {d.id: d.name for d in api.read_deployments()}
        children = {name for stage in stages() for name in stage}
        dbt_runs = []
        for run in runs:  # the children: runs of a team deployment (not the backfill's own flow)
            child = deployments.get(run.deployment_id) if run.deployment_id else None
            if child in children and run.start_time and run.end_time:
                work[child] = work.get(child, 0.0) + (run.end_time - run.start_time).total_seconds()
                if child.startswith("dbt-"):
                    dbt_runs.append(run.id)
        warehouse = warehouse_work(api, dbt_runs)
    return {"wall": wall, "rows": lake_orders(env, start, end), "work": work, "warehouse": warehouse}


def lake_orders(env: dict[str, str], start: date, end: date) -> int:
    """The orders the platform's lake holds for start..end (its day partitions' row counts)."""
    from jaffle_ops.environments import hatch_env_path

    lake = Path(env["JAFFLE_PLATFORM_HOME"]) / "data" / "lake" / "raw" / "jaffle_shop" / "orders"
    days = (end - start).days + 1
    parts = [lake / f"date={start + timedelta(days=i)}" / "part-0.parquet" for i in range(days)]
    count = "import sys, pyarrow.parquet as p; print(sum(p.read_metadata(f).num_rows for f in sys.argv[1:]))"
    python = hatch_env_path("ingestion") / "bin" / "python"
    counted = subprocess.run(
        [str(python), "-c", count, *map(str, parts)], capture_output=True, text=True, check=True
    )
    return int(counted.stdout)


BUILT = re.compile(r"Built \d+ dbt nodes of \w+ \(\w+ target\): (?P<phases>.*)")
PHASE = re.compile(r"(\w+) ([0-9.]+) s")


def warehouse_work(api, run_ids: list) -> float:
    """The seconds dbt builds held the warehouse: the phases (parse, execute, publish, docs) each dbt
    run logs, summed. A dbt run's Running time also counts its wait for the warehouse slot, so summed
    run times of dbt children overlap and exceed the wall time; these do not."""
    return sum(dbt_phases(api, run_ids).values())


def dbt_phases(api, run_ids: list) -> dict[str, float]:
    """Each phase dbt builds log (parse, execute, publish, docs), summed over the runs."""
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.client.schemas.sorting import LogSort

    summed: dict[str, float] = {}
    for run_id in run_ids:  # the line is among a run's last: read those only
        own = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id]))
        for log in api.read_logs(log_filter=own, limit=50, sort=LogSort.TIMESTAMP_DESC):
            if built := BUILT.search(log.message):
                for phase, seconds in PHASE.findall(built["phases"]):
                    summed[phase] = summed.get(phase, 0.0) + float(seconds)
                break
    return summed


if __name__ == "__main__":
    sys.exit(main())
