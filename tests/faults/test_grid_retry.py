"""A backfill grid, its cells sized per team, retries a cell that failed once and matches one run of the
range row for row."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import date, timedelta

import pytest

from .grids import grid_states, grid_table, printed_grid
from .harness import ROOT, RUN_BOUND, Platform, finish, parent_of, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.faults]
# The parent's children, as the coordinator reads them (its generated graph).
PLAN_CHILDREN = [
    child["name"]
    for child in json.loads((ROOT / "coordinator/src/jaffle_coordinator/graph.json").read_text())["children"]
]


ROWS_SCRIPT = """
import duckdb, glob, json, os, sys
data, days, end = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]


def digest(con, relation):
    # Floating sums depend on the order DuckDB's threads add in: compare them to 9 significant digits.
    columns = con.sql(f"describe select * from {relation}").fetchall()
    values = ", ".join(
        f'round("{name}", 9 - cast(ceil(log10(abs("{name}") + 1)) as int))'
        if kind in ("DOUBLE", "FLOAT") else f'"{name}"'
        for name, kind, *_ in columns
    )
    count, total = con.sql(f"select count(*), sum(hash(row({values}))) from {relation}").fetchone()
    return [count, str(total)]


out = {}
con = duckdb.connect()
for table in sorted(glob.glob(f"{data}/lake/raw/*/*")):
    files = [f for d in days for f in glob.glob(f"{table}/date={d}/*.parquet")]
    if files:
        out["lake " + os.path.relpath(table, f"{data}/lake/raw")] = digest(con, f"read_parquet({files})")
for table in sorted(glob.glob(f"{data}/lake/ml/*")):
    files = glob.glob(f"{table}/as_of={end}/*.parquet")
    if files:
        out[f"lake ml/{os.path.basename(table)} as of {end}"] = digest(con, f"read_parquet({files})")
for path in sorted(glob.glob(f"{data}/warehouse/*.duckdb")):
    with duckdb.connect(path, read_only=True) as db:
        for (table,) in db.sql("select table_name from information_schema.tables order by 1").fetchall():
            out[f"{os.path.basename(path)} {table}"] = digest(db, f'"{table}"')
print(json.dumps(out))
"""


def rows_of(platform: Platform, start: date, end: date) -> dict[str, list]:
    """Row count and an order-free digest of the rows, per table: the lake's partitions of the days,
    the forecasts made as of the last day, and every table of both warehouses (floating values to 9
    significant digits)."""
    from jaffle_ops.environments import hatch_env_path

    days = [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]
    out = subprocess.run(
        [
            str(hatch_env_path("dbt-transform") / "bin" / "python"),
            "-c",
            ROWS_SCRIPT,
            str(platform.data),
            json.dumps(days),
            end.isoformat(),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def test_a_backfill_grid_retries_a_cell_that_failed_once_and_matches_one_run_of_the_range_row_for_row(
    platform,
    record,
):
    # Cells sized per team: landings of 3 days, dbt builds of 6 (a build reads the landings its days
    # overlap, and its second cell waits for its first), the forecast and the dashboards once, as they
    # declare. The dashboards' one cell fails once, and is retried.
    start, end = date(2024, 7, 1), date(2024, 7, 9)
    window = f"{start}..{end}"
    sizes = {"ingestion": "3", "dbt-transform": "6"}
    cells = {"raw-data-jaffle-shop": 3, "raw-data-marketing": 3, "dbt-jaffle-shop": 2, "dbt-attribution": 2}
    cells |= {name: 1 for name in PLAN_CHILDREN if name not in cells}
    # Fault from outside: a folder where the dashboards team writes its page, until a first attempt fails.
    blocker = platform.data / "dashboards" / "latest.html"
    if blocker.is_file():
        blocker.unlink()
    (blocker / "in-the-way").mkdir(parents=True)
    began = time.monotonic()
    run = platform.start(
        "backfill",
        "--start",
        start.isoformat(),
        "--end",
        end.isoformat(),
        *(flag for team, size in sizes.items() for flag in ("--cell", f"{team}={size}")),
        "--backoff-seconds",
        "20",
    )
    parent = parent_of(platform, f"backfill {window}")

    def a_failed_dashboards_run():
        return any(
            r.state.is_failed()
            for name, runs in platform.children(parent.id).items()
            if name.startswith("dashboards ")
            for r in runs
        )

    wait_for("a dashboards cell failed once", a_failed_dashboards_run, RUN_BOUND)
    (blocker / "in-the-way").rmdir()
    blocker.rmdir()
    code, out = finish(run, 2 * RUN_BOUND)
    seconds = time.monotonic() - began
    assert code == 0, out

    kids = platform.children(parent.id)
    children = len(PLAN_CHILDREN)
    made = {name: sum(1 for kid in kids if kid.startswith(f"{name} ")) for name in PLAN_CHILDREN}
    assert made == cells  # one run per cell: per (team deployment, window of its team's size)
    assert f"dbt-jaffle-shop {start}..{start + timedelta(days=5)}" in kids
    assert f"sales-forecast {window}" in kids and f"dashboards {window}" in kids
    assert all(runs[-1].state.is_completed() for runs in kids.values())
    retried = {name: [r.state.name for r in runs] for name, runs in kids.items() if len(runs) > 1}
    assert retried and all(name.startswith("dashboards ") for name in retried), retried
    assert all(states[0] == "Failed" and states[-1] == "Completed" for states in retried.values())
    # The grid artifact and the CLI's last grid say what the API says.
    states = grid_states(grid_table(platform, parent.id))
    assert states == dict.fromkeys(kids, "completed")
    last_grid = printed_grid(out, children)
    assert sorted(last_grid) == sorted(PLAN_CHILDREN)
    assert [state for row in last_grid.values() for state in row].count("completed") == sum(cells.values())

    backfilled = rows_of(platform, start, end)
    assert backfilled["lake jaffle_shop/orders"][0] > 0
    sequential = platform.cli("run", "--start", start.isoformat(), "--end", end.isoformat())
    assert sequential.returncode == 0, sequential.stdout
    assert rows_of(platform, start, end) == backfilled
    record(
        "10 a 9-day backfill grid (cells sized per team) with a cell that failed once",
        passed=True,
        seconds_backfill=round(seconds, 1),
        cells=len(kids),
        cells_retried=sorted(retried),
        tables_matching_one_run_of_the_range=len(backfilled),
        rows_lost=0,
        rows_duplicated=0,
    )
