"""The `faults` tier: real server, real workers, faults injected from outside the team code.

One platform is shared by the scenarios (each repairs what it broke with `up`, as an operator would).
Each scenario records the seconds from its fault to the parent's terminal state and the rows lost or
duplicated in `test-artifacts/faults.json`. The waits below are hang guards, not timings: a scenario
fails if its run has not ended well after the bound the platform's settings promise.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
from jaffle_contract.window import Window
from jaffle_ops.secrets import read_auth_string

pytestmark = [pytest.mark.integration, pytest.mark.faults]
ROOT = Path(__file__).resolve().parents[2]
# The days scenarios 1, 2 and 4 build before the others run: their rows must survive what follows.
EARLIER = Window(date(2024, 5, 1), date(2024, 5, 9))
# Hang guards: the crash automation's window plus the server's evaluation loop and a busy machine's slack.
CRASH_BOUND = 120 + 240
# A dead holder's slot: its 60 s lease, the server's 15 s repossessor loop, and slack.
SLOT_BOUND = 60 + 15 + 60
RUN_BOUND = 900
# The parent's children, as the coordinator reads them (its generated graph).
PLAN_CHILDREN = [
    child["name"]
    for child in json.loads((ROOT / "coordinator/src/jaffle_coordinator/graph.json").read_text())["children"]
]


@pytest.fixture(scope="module")
def platform(launch_platform):
    # Not shared with other tiers: these scenarios kill its server and workers and fill its disk.
    cli, home, port = launch_platform("--paused-schedules")
    return Platform(cli, home, port)


class Platform:
    """The platform under test, seen from outside: its CLI, its files, its API."""

    def __init__(self, cli, home: Path, port: int):
        self.cli, self.home, self.port = cli, home, port
        self.data = home / "data"
        self.ui = f"http://127.0.0.1:{port}"

    def client(self):
        from prefect.client.orchestration import SyncPrefectClient

        return SyncPrefectClient(f"{self.ui}/api", auth_string=read_auth_string(self.home))

    def start(self, *args: str) -> subprocess.Popen:
        """`./dev run ...` (or backfill) in the background, as an operator's terminal would run it."""
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jaffle_ops",
                "--home",
                str(self.home),
                "--port",
                str(self.port),
                *args,
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        process.home = self.home  # type: ignore[attr-defined]  # finish() shows its logs on a hang
        return process

    def pid(self, name: str) -> int:
        return json.loads((self.home / "pids" / f"{name}.json").read_text())["pid"]

    def runs_named(self, name: str):
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

        with self.client() as client:
            return client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name])))

    def children(self, parent_id) -> dict[str, list]:
        """A parent's child runs by child name (oldest attempt first)."""
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

        with self.client() as client:
            kids = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[f"parent:{parent_id}"]))
            )
        found: dict[str, list] = {}
        for kid in sorted(kids, key=lambda k: k.created):
            name = next(t.removeprefix("child:") for t in kid.tags if t.startswith("child:"))
            found.setdefault(name, []).append(kid)
        return found

    def read(self, flow_run_id):
        with self.client() as client:
            return client.read_flow_run(flow_run_id)

    def heartbeats(self, flow_run_id) -> int:
        """How many heartbeats the server has recorded for a flow run (its events)."""
        from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

        beats = EventFilter(
            event=EventNameFilter(name=["prefect.flow-run.heartbeat"]),
            resource=EventResourceFilter(id=[f"prefect.flow-run.{flow_run_id}"]),
        )
        with self.client() as client:
            return client.read_events(beats, limit=1).total

    def summary(self, flow_run_id) -> str:
        from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

        with self.client() as client:
            found = client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
            )
        return next(
            a.data
            for a in sorted(found, key=lambda a: a.created, reverse=True)
            if a.key == "platform-run-summary"
        )

    @contextlib.contextmanager
    def holding_the_warehouse_slot(self):
        """Take the warehouse's one slot without a lease (as a holder that never lets go would) and
        give it back on the way out."""
        from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate

        with self.client() as client:
            client.update_global_concurrency_limit(
                "jaffle-warehouse", GlobalConcurrencyLimitUpdate(active_slots=1)
            )
        try:
            yield
        finally:
            with self.client() as client:
                client.update_global_concurrency_limit(
                    "jaffle-warehouse", GlobalConcurrencyLimitUpdate(active_slots=0)
                )

    def warehouse_slots(self) -> int:
        with self.client() as client:
            return client.read_global_concurrency_limit_by_name("jaffle-warehouse").active_slots

    def counts(self, start: date, end: date) -> dict[str, int]:
        """Orders in the lake and in the warehouse for a window, with the warehouse's duplicates."""
        from jaffle_ops.environments import hatch_env_path

        lake = self.data / "lake/raw/jaffle_shop/orders"
        days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
        files = [str(lake / f"date={d}/part-0.parquet") for d in days if (lake / f"date={d}").exists()]
        script = (
            "import duckdb,sys,json; files=json.loads(sys.argv[2]);"
            "lake=duckdb.sql(f'select count(*) from read_parquet({files})').fetchone()[0] if files else 0;"
            "import os; there=os.path.exists(sys.argv[1]);"
            "c=duckdb.connect(sys.argv[1], read_only=True) if there else None;"
            'w,u=c.sql("select count(*), count(distinct order_id) from orders '
            'where cast(ordered_at as date) between ? and ?", params=[sys.argv[3], sys.argv[4]]).fetchone() '
            "if c else (0, 0);"
            "print(json.dumps({'lake': lake, 'warehouse': w, 'duplicates': w-u}))"
        )
        out = subprocess.run(
            [
                str(hatch_env_path("dbt-transform") / "bin" / "python"),
                "-c",
                script,
                str(self.data / "warehouse/jaffle_shop.duckdb"),
                json.dumps(files),
                start.isoformat(),
                end.isoformat(),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(out.stdout)


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


def grid_table(platform: Platform, parent_id, prefix: str = "backfill-grid-") -> list[dict]:
    """The newest grid (or dry-run plan) table artifact of a backfill run, as rows."""
    data = grid_artifact(platform, parent_id, prefix).data
    return json.loads(data) if isinstance(data, str) else data


def grid_artifact(platform: Platform, parent_id, prefix: str = "backfill-grid-"):
    """The newest grid (or dry-run plan) table artifact of a backfill run."""
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    with platform.client() as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[parent_id]),
                key=ArtifactFilterKey(like_=f"{prefix}%"),
            ),
            sort=ArtifactSort.CREATED_DESC,
            limit=1,
        )
    return found[0]


def grid_states(table: list[dict]) -> dict[str, str]:
    """`{cell name: state}` from a grid table (cells are named `<child> <chunk>`, as their runs are)."""
    return {
        f"{row['child']} {chunk}": text.split()[1].rstrip(":")  # `<symbol> <state>[: why | link]`
        for row in table
        for chunk, text in row.items()
        if chunk not in ("child", "team")
    }


def drawn_grid(platform: Platform, page, artifact_id) -> dict[str, list[str]]:
    """`{child: [state of each chunk]}` as the Prefect UI draws a grid artifact's table (a row per child:
    its name, its team, then a cell per chunk)."""
    page.goto(f"{platform.ui}/artifacts/artifact/{artifact_id}")
    rows = page.locator(".artifact-data-table tbody tr")
    rows.first.wait_for()
    drawn = {}
    for row in rows.all():
        cells = [cell.inner_text().split() for cell in row.locator("td").all()]
        drawn[cells[0][0]] = [cell[1].rstrip(":") for cell in cells[2:]]
    return drawn


def printed_grid(out: str, children: int) -> dict[str, list[str]]:
    """`{child: [state of each chunk]}` from the last grid the CLI printed on a log (a header line of
    chunks, a line per child, then the `cells ended` line)."""
    lines = out.rsplit("cells ended", 1)[0].splitlines()[:-1]
    return {line.split()[0]: line.split()[1:] for line in lines[-children:]}


def wait_for(what: str, check, bound: float, every: float = 1.0):
    """Poll `check` until it returns something truthy; fail naming `what` after `bound` seconds."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        try:
            found = check()
        except Exception:  # the server may be restarting: keep asking
            found = None
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"{what}: not after {bound:.0f} s")


def parent_of(platform: Platform, name: str):
    return wait_for(f"parent run {name!r} created", lambda: platform.runs_named(name), 120)[0]


def child_running(platform: Platform, parent_id, child: str):
    def check():
        runs = platform.children(parent_id).get(child, [])
        return runs[-1] if runs and runs[-1].state.is_running() else None

    return wait_for(f"{child} running", check, RUN_BOUND)


def final(platform: Platform, flow_run_id, bound: float = RUN_BOUND):
    return wait_for(
        "a terminal state",
        lambda: (r := platform.read(flow_run_id)).state.is_final() and r,
        bound,
    )


def flow_run_processes(flow_run_id) -> list[int]:
    """Processes running a flow run: the process worker gives each its run id in the environment."""
    needle = f"PREFECT__FLOW_RUN_ID={flow_run_id}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def run_processes(flow_run_id) -> list[int]:
    """Every process of a flow run: the one the worker started (it has the run id in its environment)
    and, under the warm launcher, the run forked for it, which writes to the same output pipe; empty
    until the fork is there too."""
    started = flow_run_processes(flow_run_id)
    pipes = set()
    for pid in started:
        with contextlib.suppress(OSError):
            pipes.add(os.readlink(f"/proc/{pid}/fd/1"))
    found = set(started)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if os.readlink(entry / "fd" / "1") in pipes:
                    found.add(int(entry.name))
    shims = [p for p in started if b"jaffle_contract.launcher" in Path(f"/proc/{p}/cmdline").read_bytes()]
    return sorted(found) if not shims or len(found) > len(started) else []


def slot_freed(platform: Platform) -> None:
    wait_for("the warehouse slot freed", lambda: platform.warehouse_slots() == 0, SLOT_BOUND)


def rows_against_lake(counts: dict[str, int]) -> dict[str, int]:
    """Orders the warehouse lacks or repeats, against the lake's partitions for the same days."""
    return {
        "rows_lost": counts["lake"] - counts["warehouse"] + counts["duplicates"],
        "rows_duplicated": counts["duplicates"],
    }


@pytest.fixture
def record(artifacts):
    """`record(scenario, **facts)` adds a scenario's numbers to faults.json in the test artifacts."""

    def add(scenario: str, **facts) -> None:
        path = artifacts / "faults.json"
        data = json.loads(path.read_text()) if path.exists() else {}
        data[scenario] = facts
        path.write_text(json.dumps(data, indent=2, sort_keys=True))
        print(scenario, facts)

    return add


def finish(process: subprocess.Popen, bound: float = RUN_BOUND) -> tuple[int, str]:
    """The command's exit code and output; past `bound`, a failure that shows what the command printed
    last and the end of every log of the platform it ran on, so a hang says where it was."""
    try:
        out, _ = process.communicate(timeout=bound)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
        home = getattr(process, "home", None)
        logs = sorted((home / "logs").glob("*.log")) if home else []
        tails = "\n".join(
            f"--- {log.name} (last 40 lines)\n"
            + "\n".join(log.read_text(errors="replace").splitlines()[-40:])
            for log in logs
        )
        pytest.fail(
            f"{' '.join(map(str, process.args))} did not end within {bound:.0f} s:\n{out[-6000:]}\n{tails}"
        )
    return process.returncode, out


def test_a_killed_worker_and_flow_run_fail_the_parent_by_name_and_free_the_slot(platform, record):
    start, end = date(2024, 5, 1), date(2024, 5, 4)
    run = platform.start("run", "--start", start.isoformat(), "--end", end.isoformat())
    parent = parent_of(platform, f"data-platform {start}..{end}")
    dbt = child_running(platform, parent.id, "dbt-jaffle-shop")
    # its first heartbeat is recorded: the crash automation now watches it
    wait_for("the dbt run's first heartbeat", lambda: platform.heartbeats(dbt.id), RUN_BOUND)
    assert platform.warehouse_slots() == 1  # the dbt build holds the warehouse slot itself

    victims = flow_run_processes(dbt.id)
    assert victims, "the dbt flow run's process was not found"
    os.killpg(platform.pid("worker-dbt-transform"), signal.SIGKILL)
    for pid in victims:
        with contextlib.suppress(ProcessLookupError):  # gone with the worker's process group
            os.kill(pid, signal.SIGKILL)
    fault = time.monotonic()

    ended = final(platform, parent.id, CRASH_BOUND)
    seconds = time.monotonic() - fault
    code, out = finish(run)
    assert ended.state.is_failed(), ended.state
    assert "dbt-jaffle-shop" in ended.state.message and "ended Crashed" in ended.state.message
    assert platform.read(dbt.id).state.name == "Crashed"
    assert code == 1 and "ended Crashed" in out
    summary = platform.summary(parent.id)
    assert "**Outcome:** failed: child run 'dbt-jaffle-shop" in summary
    assert "| dbt-attribution | not started |" in summary and "| dashboards | not started |" in summary
    slot_freed(platform)

    again = platform.cli("up", "--paused-schedules")
    assert again.returncode == 0 and "started pid" in again.stdout
    assert "for pool dbt-transform" in again.stdout
    resumed = platform.cli("run", "--resume", str(parent.id))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    kids = platform.children(parent.id)
    assert len(kids["raw-data-jaffle-shop"]) == 1 and len(kids["dbt-jaffle-shop"]) == 2
    counts = platform.counts(start, end)
    assert counts["lake"] > 0 and counts["warehouse"] == counts["lake"] and counts["duplicates"] == 0
    record(
        "1 worker and flow run killed mid-child",
        passed=True,
        seconds_fault_to_parent_terminal=round(seconds, 1),
        parent_state=ended.state.name,
        **rows_against_lake(counts),
    )


def test_a_server_killed_and_restarted_mid_run_ends_the_run_and_leaks_no_slot(platform, record):
    start, end = date(2024, 5, 5), date(2024, 5, 7)
    run = platform.start("run", "--start", start.isoformat(), "--end", end.isoformat())
    parent = parent_of(platform, f"data-platform {start}..{end}")
    child_running(platform, parent.id, "dbt-jaffle-shop")
    os.killpg(platform.pid("server"), signal.SIGKILL)
    fault = time.monotonic()
    time.sleep(5)  # the fault itself: the server stays down this long before it is restarted
    restarted = platform.cli("up", "--paused-schedules")
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    assert "server      started pid" in restarted.stdout

    ended = final(platform, parent.id)
    seconds = time.monotonic() - fault
    code, out = finish(run)
    assert code == (0 if ended.state.is_completed() else 1), out
    slot_freed(platform)
    if not ended.state.is_completed():  # the restart cost the run: resuming it completes it
        resumed = platform.cli("run", "--resume", str(parent.id))
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    nxt = platform.cli("run", "--start", end.isoformat(), "--end", end.isoformat())
    assert nxt.returncode == 0, nxt.stdout + nxt.stderr
    counts = platform.counts(start, end)
    assert counts["warehouse"] == counts["lake"] > 0 and counts["duplicates"] == 0
    record(
        "2 server killed and restarted mid-run",
        passed=True,
        seconds_fault_to_parent_terminal=round(seconds, 1),
        parent_state=ended.state.name,
        **rows_against_lake(counts),
    )


def test_a_failed_child_stops_what_reads_it_and_the_summary_names_it(platform, record):
    landed = platform.counts(EARLIER.start, EARLIER.end)  # what earlier scenarios built
    began = time.monotonic()
    run = platform.cli("run", "--start", "2000-01-01", "--end", "2000-01-02")
    seconds = time.monotonic() - began
    assert run.returncode == 1 and "raw-data-jaffle-shop 2000-01-01..2000-01-02' of deployment" in run.stdout
    parent = platform.runs_named("data-platform 2000-01-01..2000-01-02")[0]
    assert set(platform.children(parent.id)) == {"raw-data-jaffle-shop", "raw-data-marketing"}
    summary = platform.summary(parent.id)
    assert "**Outcome:** failed: child run 'raw-data-jaffle-shop" in summary
    # not started, and why: the child whose data it reads did not complete
    assert "| dbt-jaffle-shop | not started | raw-data-jaffle-shop did not complete |" in summary
    after = platform.counts(EARLIER.start, EARLIER.end)
    assert after == landed
    record(
        "3 a child that fails",
        passed=True,
        seconds_start_to_parent_failed=round(seconds, 1),
        rows_lost=landed["warehouse"] - after["warehouse"],
        rows_duplicated=after["duplicates"],
    )


def test_a_parent_retried_from_the_ui_reruns_only_the_children_that_did_not_complete(
    platform, record, chromium_page, ui_login
):
    start, end = date(2024, 5, 8), date(2024, 5, 9)
    # Fault from outside: a folder where the dashboards team writes its page.
    blocker = platform.data / "dashboards" / "latest.html"
    if blocker.is_file():
        blocker.unlink()
    (blocker / "in-the-way").mkdir(parents=True)
    first = platform.cli("run", "--start", start.isoformat(), "--end", end.isoformat())
    assert first.returncode == 1 and "dashboards" in first.stdout
    parent = platform.runs_named(f"data-platform {start}..{end}")[0]
    assert "ended Failed" in parent.state.message and "dashboards" in parent.state.message
    before = platform.counts(start, end)

    (blocker / "in-the-way").rmdir()
    blocker.rmdir()
    # The UI's Retry button on the parent's run page, and the confirmation in its dialog.
    page = chromium_page
    ui_login(page, platform.ui, read_auth_string(platform.home))
    page.goto(f"{platform.ui}/runs/flow-run/{parent.id}")
    page.get_by_role("button", name="Retry").first.click()
    with page.expect_response(lambda r: r.request.method == "POST" and "/set_state" in r.url) as sent:
        page.locator(".p-modal").get_by_role("button", name="Retry").click()
    assert sent.value.status in (200, 201), sent.value.text()
    fault_fixed = time.monotonic()
    assert final(platform, parent.id).state.is_completed()
    seconds = time.monotonic() - fault_fixed
    page.reload()
    page.locator(".state-badge", has_text="Completed").first.wait_for()
    kids = platform.children(parent.id)
    assert {name: len(runs) for name, runs in kids.items()} == {
        "raw-data-jaffle-shop": 1,
        "raw-data-marketing": 1,
        "dbt-jaffle-shop": 1,
        "dbt-attribution": 1,
        "sales-forecast": 1,
        "dashboards": 2,
    }
    assert [r.state.name for r in kids["dashboards"]] == ["Failed", "Completed"]
    summary = platform.summary(parent.id)
    assert summary.count("reused: completed earlier") == 5 and "rerun (attempt 2)" in summary
    assert platform.read(parent.id).state.is_completed() and blocker.is_file()
    after = platform.counts(start, end)
    assert after == before and after["duplicates"] == 0
    record(
        "4 retry (the UI's Retry button) of a parent whose last child failed",
        passed=True,
        seconds_resume_to_completed=round(seconds, 1),
        children_rerun=["dashboards"],
        rows_lost=before["warehouse"] - after["warehouse"],
        rows_duplicated=after["duplicates"],
    )


def test_a_cancelled_parent_cancels_its_children(platform, record):
    from prefect.states import Cancelling

    start, end = date(2024, 5, 10), date(2024, 5, 13)
    landed = platform.counts(EARLIER.start, EARLIER.end)
    # The warehouse slot is taken from outside, so the dbt build is running and still waiting for it
    # when the cancel arrives, however fast this machine builds four days.
    with platform.holding_the_warehouse_slot():
        run = platform.start("run", "--start", start.isoformat(), "--end", end.isoformat())
        parent = parent_of(platform, f"data-platform {start}..{end}")
        dbt = child_running(platform, parent.id, "dbt-jaffle-shop")
        with platform.client() as client:  # what the UI's Cancel button sends
            client.set_flow_run_state(parent.id, Cancelling(message="cancelled from the UI"))
        fault = time.monotonic()
        ended = final(platform, parent.id)
    seconds = time.monotonic() - fault
    assert ended.state.name == "Cancelled", ended.state
    child = final(platform, dbt.id)
    assert child.state.name == "Cancelled", child.state
    code, _ = finish(run)
    assert code == 1
    kids = platform.children(parent.id)
    assert "dbt-attribution" not in kids and "dashboards" not in kids
    slot_freed(platform)
    after = platform.counts(EARLIER.start, EARLIER.end)  # the cancelled build published nothing half-made
    assert after == landed
    record(
        "5 parent cancelled while children run",
        passed=True,
        seconds_cancel_to_parent_cancelled=round(seconds, 1),
        child_state=child.state.name,
        rows_lost=landed["warehouse"] - after["warehouse"],
        rows_duplicated=after["duplicates"],
    )


def test_two_overlapping_backfills_of_one_range_agree_and_never_hit_a_lock(platform, record):
    start, end = date(2024, 5, 14), date(2024, 5, 15)
    # One chunk each (6 cells): the two grids' cells overlap on every team at once.
    args = ("backfill", "--start", start.isoformat(), "--end", end.isoformat(), "--chunk-days", "2")
    began = time.monotonic()
    first, second = platform.start(*args), platform.start(*args)
    results = [finish(first), finish(second)]
    seconds = time.monotonic() - began
    for code, out in results:
        assert code == 0, out
        assert "lock" not in out.lower()
    counts = platform.counts(start, end)
    assert counts["warehouse"] == counts["lake"] > 0 and counts["duplicates"] == 0
    rerun = platform.cli("run", "--start", start.isoformat(), "--end", end.isoformat())
    assert rerun.returncode == 0
    assert platform.counts(start, end) == counts  # the same rows whether one run or three built them
    record(
        "6 two overlapping backfills of the same range",
        passed=True,
        seconds_both_backfills=round(seconds, 1),
        orders_in_lake=counts["lake"],
        orders_in_warehouse=counts["warehouse"],
        **rows_against_lake(counts),
    )


def test_the_daily_run_waits_for_the_one_before_it_instead_of_overlapping(platform, record):
    day = "2024-05-16"
    name = f"data-platform {day}"
    first = platform.start("run", "--start", day, "--end", day)
    parent_of(platform, name)
    second = platform.start("run", "--start", day, "--end", day)
    wait_for("both runs created", lambda: len(platform.runs_named(name)) == 2, 120)
    for code, out in (finish(first), finish(second)):
        assert code == 0, out
    earlier, later = sorted(platform.runs_named(name), key=lambda r: r.start_time)
    assert earlier.end_time <= later.start_time  # one at a time: the second waited in line
    with platform.client() as client:
        deployment = client.read_deployment_by_name("data-platform/data-platform")
    assert deployment.concurrency_options.collision_strategy == "ENQUEUE"
    record("overlapping daily runs", passed=True, rows_lost=0, rows_duplicated=0)


def _pyarrow(script: str, *paths: Path) -> str:
    """Run a line of pyarrow (`pq`, `sys` imported) in the ingestion team's environment."""
    from jaffle_ops.environments import hatch_env_path

    python = hatch_env_path("ingestion") / "bin" / "python"
    done = subprocess.run(
        [str(python), "-c", f"import sys, pyarrow.parquet as pq; {script}", *map(str, paths)],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def _trigger(platform: Platform, deployment: str, parameters: dict):
    from prefect.client.schemas.objects import FlowRun

    with platform.client() as client:
        found = client.read_deployment_by_name(deployment)
        run: FlowRun = client.create_flow_run_from_deployment(found.id, parameters=parameters)
    return final(platform, run.id)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.parquet"))}


def test_landing_a_partial_file_keeps_other_days_and_a_truncated_one_is_rejected(platform, record):
    orders = platform.data / "lake/raw/jaffle_shop/orders"
    days = ["2024-05-01", "2024-05-02", "2024-05-03"]
    before = {d: (orders / f"date={d}/part-0.parquet").read_bytes() for d in days}
    count = "print(pq.read_table(sys.argv[1]).num_rows)"
    whole_day = _pyarrow(count, orders / "date=2024-05-02/part-0.parquet")
    landing = platform.data / "landing/jaffle_shop/orders"
    landing.mkdir(parents=True, exist_ok=True)
    # An export covering only the 2nd, with the first 10 of that day's orders.
    _pyarrow(
        "pq.write_table(pq.read_table(sys.argv[1]).slice(0, 10), sys.argv[2])",
        orders / "date=2024-05-02/part-0.parquet",
        landing / "may-02.parquet",
    )
    window = {"start_date": days[0], "end_date": days[-1], "ingest_from": "landing"}
    ran = _trigger(platform, "raw-data-jaffle-shop/raw-data-jaffle-shop", window)
    assert ran.state.is_completed(), ran.state
    after = {d: (orders / f"date={d}/part-0.parquet").read_bytes() for d in days}
    assert after["2024-05-01"] == before["2024-05-01"] and after["2024-05-03"] == before["2024-05-03"]
    landed = _pyarrow(count, orders / "date=2024-05-02/part-0.parquet")
    assert landed == "10"

    lake_before = _files(platform.data / "lake")
    whole = (orders / "date=2024-05-03/part-0.parquet").read_bytes()
    (landing / "cut-short.parquet").write_bytes(whole[: len(whole) // 2])  # a copy interrupted mid-file
    began = time.monotonic()
    failed = _trigger(platform, "raw-data-jaffle-shop/raw-data-jaffle-shop", window)
    seconds = time.monotonic() - began
    assert failed.state.is_failed() and "cut-short.parquet" in failed.state.message
    rejected = platform.data / "landing/_rejected/jaffle_shop/orders"
    assert (rejected / "cut-short.parquet").read_bytes() == whole[: len(whole) // 2]
    assert "ArrowInvalid" in (rejected / "cut-short.parquet.reason.txt").read_text()
    assert _files(platform.data / "lake") == lake_before  # nothing landed is lost
    (landing / "may-02.parquet").unlink()
    # Repair what this scenario broke, as an operator would: land the 2nd again from its source. The
    # partial export replaced that day's orders but not their items, and every later dbt build would
    # fail its staging test on 2,000-odd items whose orders are gone.
    day = {"start_date": days[1], "end_date": days[1]}
    repaired = _trigger(platform, "raw-data-jaffle-shop/raw-data-jaffle-shop", day)
    assert repaired.state.is_completed(), repaired.state
    assert _pyarrow(count, orders / "date=2024-05-02/part-0.parquet") == whole_day
    record(
        "7 partial and truncated landing files",
        passed=True,
        seconds_trigger_to_failed=round(seconds, 1),
        partitions_checked_unchanged=len(lake_before),
        rows_lost=0,
        rows_duplicated=0,
    )


def test_a_lake_that_is_read_only_or_full_is_a_clear_error_and_keeps_every_partition(
    platform, record, unavailable
):
    shop = platform.data / "lake/raw/jaffle_shop"
    saved = platform.data / "jaffle_shop.saved"
    subprocess.run(["cp", "-a", str(shop), str(saved)], check=True)
    mount = ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(shop)]
    mounted = subprocess.run(mount, capture_output=True)
    if mounted.returncode != 0:
        unavailable(f"cannot mount a tmpfs to fill or freeze the lake: {mounted.stderr.decode().strip()}")
    try:
        subprocess.run(f"cp -a {saved}/. {shop}/", shell=True, check=True)
        before = _files(shop)
        window = {"start_date": "2024-06-01", "end_date": "2024-06-02"}

        subprocess.run(["mount", "-o", "remount,ro", str(shop)], check=True)
        began = time.monotonic()
        frozen = _trigger(platform, "raw-data-jaffle-shop/raw-data-jaffle-shop", window)
        seconds_frozen = time.monotonic() - began
        assert frozen.state.is_failed() and "Read-only file system" in frozen.state.message
        assert "could not write" in frozen.state.message and "is unchanged" in frozen.state.message
        assert _files(shop) == before

        subprocess.run(["mount", "-o", "remount,rw", str(shop)], check=True)
        subprocess.run(["dd", "if=/dev/zero", f"of={shop}/filler", "bs=1M", "count=64"], capture_output=True)
        began = time.monotonic()
        full = _trigger(platform, "raw-data-jaffle-shop/raw-data-jaffle-shop", window)
        seconds_full = time.monotonic() - began
        assert full.state.is_failed() and "No space left on device" in full.state.message
        after = _files(shop)
        assert {path: after.get(path) for path in before} == before
        assert not list(shop.rglob("*.tmp"))
    finally:
        subprocess.run(["umount", str(shop)], check=False)
        subprocess.run(["rm", "-rf", str(saved)], check=False)
    record(
        "8 lake read-only, then full",
        passed=True,
        seconds_trigger_to_failed_read_only=round(seconds_frozen, 1),
        seconds_trigger_to_failed_full=round(seconds_full, 1),
        partitions_checked_unchanged=len(before),
        rows_lost=0,
        rows_duplicated=0,
    )


def test_a_backfill_grid_retries_a_cell_that_failed_once_and_matches_one_run_of_the_range_row_for_row(
    platform,
    record,
):
    # Three chunks are enough for a grid: a failed cell between completed ones, its retry, and cells of
    # every team around it (it was 21 days in 7 chunks; each chunk more only repeats the first three).
    start, end, chunks = date(2024, 7, 1), date(2024, 7, 9), 3
    window = f"{start}..{end}"
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
        "--chunk-days",
        "3",
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
    assert len(kids) == children * chunks  # one cell per (team deployment, chunk)
    assert all(runs[-1].state.is_completed() for runs in kids.values())
    retried = {name: [r.state.name for r in runs] for name, runs in kids.items() if len(runs) > 1}
    assert retried and all(name.startswith("dashboards ") for name in retried), retried
    assert all(states[0] == "Failed" and states[-1] == "Completed" for states in retried.values())
    # The grid artifact and the CLI's last grid say what the API says.
    states = grid_states(grid_table(platform, parent.id))
    assert states == dict.fromkeys(kids, "completed")
    last_grid = printed_grid(out, children)
    assert sorted(last_grid) == sorted(PLAN_CHILDREN)
    assert [state for row in last_grid.values() for state in row].count("completed") == children * chunks

    backfilled = rows_of(platform, start, end)
    assert backfilled["lake jaffle_shop/orders"][0] > 0
    sequential = platform.cli("run", "--start", start.isoformat(), "--end", end.isoformat())
    assert sequential.returncode == 0, sequential.stdout
    assert rows_of(platform, start, end) == backfilled
    record(
        "10 a 9-day backfill grid (3 chunks) with a cell that failed once",
        passed=True,
        seconds_backfill=round(seconds, 1),
        cells=len(kids),
        cells_retried=sorted(retried),
        tables_matching_one_run_of_the_range=len(backfilled),
        rows_lost=0,
        rows_duplicated=0,
    )


def test_a_cell_that_keeps_failing_blocks_only_what_needs_it_and_reprocess_failed_runs_exactly_the_rest(
    platform, record, chromium_page, ui_login, artifacts
):
    start, end = date(2024, 8, 1), date(2024, 8, 2)
    window = f"{start}..{end}"
    base = ("backfill", "--start", start.isoformat(), "--end", end.isoformat(), "--chunk-days", "1")
    # Fault from outside: a file where the first day's orders partition belongs.
    partition = platform.data / "lake/raw/jaffle_shop/orders" / f"date={start}"
    partition.parent.mkdir(parents=True, exist_ok=True)
    partition.write_text("in the way")
    first = platform.cli(*base, "--attempts", "1", "--cap", "ingestion=1")
    assert first.returncode == 1, first.stdout
    assert f"raw-data-jaffle-shop {start}" in first.stdout and "8 cells blocked" in first.stdout
    parent = platform.runs_named(f"backfill {window}")[0]
    table = grid_table(platform, parent.id)
    states = grid_states(table)
    # The terminal's last grid, the grid artifact and the API agree cell by cell, and each cell that ran
    # links to its run.
    chunks = [c for c in table[0] if c not in ("child", "team")]
    assert printed_grid(first.stdout, len(table)) == {
        row["child"]: [states[f"{row['child']} {chunk}"] for chunk in chunks] for row in table
    }
    ran = platform.children(parent.id)
    for row in table:
        for chunk in chunks:
            cell = f"{row['child']} {chunk}"
            if cell in ran:
                assert states[cell] == ran[cell][-1].state.type.value.lower(), cell
                assert f"/runs/flow-run/{ran[cell][-1].id}" in row[chunk], row[chunk]
            else:
                assert states[cell] == "blocked", cell
    # The UI draws the same grid from the artifact (docs/backfills.md shows it); a cell's link opens its run.
    page = chromium_page
    ui_login(page, platform.ui, read_auth_string(platform.home))
    artifact = grid_artifact(platform, parent.id)
    assert (
        artifact.description == f"Backfill of {window}: 12/12 cells ended (blocked 8, completed 3, failed 1)"
    )
    assert drawn_grid(platform, page, artifact.id) == printed_grid(first.stdout, len(table))
    end_of_table = page.get_by_role("button", name="Show raw data").bounding_box()
    height = end_of_table["y"] + end_of_table["height"] + 24
    page.screenshot(
        path=str(artifacts / "backfill-grid.png"), clip={"x": 0, "y": 0, "width": 1400, "height": height}
    )
    failed = ran[f"raw-data-jaffle-shop {start}"][-1]
    link = page.locator(".artifact-data-table tbody tr", has_text="raw-data-jaffle-shop").locator("a").first
    assert link.get_attribute("href") == f"{platform.ui}/runs/flow-run/{failed.id}"
    page.goto(link.get_attribute("href"))  # follow the cell's link
    page.get_by_text(failed.name).first.wait_for()
    page.locator(".state-badge", has_text="Failed").first.wait_for()
    # --cap ingestion=1: the four ingestion cells ran one at a time.
    ingested = sorted(
        (r for name, runs in ran.items() if name.startswith("raw-data-") for r in runs),
        key=lambda r: r.start_time,
    )
    assert len(ingested) == 4
    assert all(a.end_time <= b.start_time for a, b in itertools.pairwise(ingested)), ingested
    done = {name for name, state in states.items() if state == "completed"}
    missing = {name for name, state in states.items() if state != "completed"}
    assert done == {f"raw-data-jaffle-shop {end}", f"raw-data-marketing {start}", f"raw-data-marketing {end}"}
    assert states[f"raw-data-jaffle-shop {start}"] == "failed"
    # dbt builds in order: the second day's build waits for the first day's, so it is blocked too.
    assert {name for name, state in states.items() if state == "blocked"} == missing - {
        f"raw-data-jaffle-shop {start}"
    }
    assert set(platform.children(parent.id)) == done | {f"raw-data-jaffle-shop {start}"}
    # Retrying that backfill run (the UI's Retry; here the CLI's) redoes none of its completed cells: with
    # the fault still there, only the failed cell runs again (and fails again).
    resumed = platform.cli("run", "--resume", str(parent.id))
    assert resumed.returncode == 1, resumed.stdout
    attempts = {name: len(runs) for name, runs in platform.children(parent.id).items()}
    assert attempts == {**dict.fromkeys(done, 1), f"raw-data-jaffle-shop {start}": 2}, attempts

    dry = platform.cli(*base, "--reprocess", "failed", "--dry-run")
    assert dry.returncode == 0, dry.stdout
    planned = platform.runs_named(f"backfill {window} (dry run)")[0]
    plan = grid_states(grid_table(platform, planned.id, "backfill-plan-"))
    assert {name for name, state in plan.items() if state == "waiting"} == missing
    assert {name for name, state in plan.items() if state == "skipped"} == done
    assert not platform.children(planned.id)  # a dry run runs nothing
    # The data says the same: `missing` reads each cell's outputs (the lake, the warehouse's days).
    assert dry_run_plan(platform, base, "missing") == (missing, done)
    assert f"raw-data-jaffle-shop {start}: missing in the data: raw.jaffle_shop.orders lacks {start}" in (
        platform.cli(*base, "--reprocess", "missing", "--dry-run").stdout
    )

    partition.unlink()
    again = platform.cli(*base, "--reprocess", "failed")
    assert again.returncode == 0, again.stdout
    rerun = next(r for r in platform.runs_named(f"backfill {window}") if r.id != parent.id)
    assert set(platform.children(rerun.id)) == missing  # exactly the cells that did not complete
    assert set(grid_states(grid_table(platform, rerun.id)).values()) == {"completed", "skipped"}
    counts = platform.counts(start, end)
    assert counts["warehouse"] == counts["lake"] > 0 and counts["duplicates"] == 0
    assert dry_run_plan(platform, base, "missing") == (set(), done | missing)  # the data is whole

    # A forecast partition lost from outside: `missing` reruns exactly that cell and the page after it.
    (platform.data / f"lake/ml/revenue_forecast/as_of={end}/part-0.parquet").unlink()
    third = platform.cli(*base, "--reprocess", "missing")
    assert third.returncode == 0, third.stdout
    mended = [r for r in platform.runs_named(f"backfill {window}") if r.id not in (parent.id, rerun.id)]
    assert set(platform.children(mended[0].id)) == {f"sales-forecast {end}", f"dashboards {end}"}
    assert (platform.data / f"lake/ml/revenue_forecast/as_of={end}/part-0.parquet").is_file()
    assert platform.counts(start, end) == counts
    record(
        "11 a backfill cell that keeps failing, then reprocess failed, then missing",
        passed=True,
        cells_blocked=len(missing) - 1,
        cells_completed_despite_it=len(done),
        cells_rerun=len(missing),
        cells_rerun_for_a_lost_partition=2,
        **rows_against_lake(counts),
    )


def dry_run_plan(platform: Platform, base: tuple[str, ...], reprocess: str) -> tuple[set[str], set[str]]:
    """(cells that would run, cells that would not) in a dry run's plan artifact."""
    dry = platform.cli(*base, "--reprocess", reprocess, "--dry-run")
    assert dry.returncode == 0, dry.stdout
    window = base[base.index("--start") + 1], base[base.index("--end") + 1]
    newest = max(platform.runs_named(f"backfill {window[0]}..{window[1]} (dry run)"), key=lambda r: r.created)
    plan = grid_states(grid_table(platform, newest.id, "backfill-plan-"))
    return (
        {name for name, state in plan.items() if state == "waiting"},
        {name for name, state in plan.items() if state == "skipped"},
    )


def test_a_build_starts_once_what_it_reads_has_landed_while_a_landing_it_does_not_read_is_held(
    platform, record
):
    """The parent follows the declared datasets: dbt-jaffle-shop reads the jaffle_shop landing only, so a
    marketing landing held up from outside (its process stopped) holds back only what reads it."""
    start, end = date(2024, 9, 1), date(2024, 9, 14)  # after every other window: its own days
    name = f"data-platform {start}..{end}"
    run = platform.start("run", "--start", start.isoformat(), "--end", end.isoformat())
    parent = parent_of(platform, name)

    def marketing_processes():
        runs = platform.children(parent.id).get("raw-data-marketing", [])
        return run_processes(runs[-1].id) if runs else None

    stopped = wait_for("the marketing landing's processes", marketing_processes, RUN_BOUND, every=0.05)
    for pid in stopped:
        os.kill(pid, signal.SIGSTOP)
    held = time.monotonic()
    try:
        child_running(platform, parent.id, "dbt-jaffle-shop")
        marketing = platform.children(parent.id)["raw-data-marketing"][-1]
        assert not marketing.state.is_final(), marketing.state  # held: not landed (Submitting or Running)
        waiting = {n for n, runs in platform.children(parent.id).items() if runs}
        assert "dbt-attribution" not in waiting and "dashboards" not in waiting  # they read marketing
    finally:
        for pid in stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
    code, out = finish(run)
    assert code == 0, out
    kids = {n: runs[-1] for n, runs in platform.children(parent.id).items()}
    assert kids["dbt-jaffle-shop"].start_time < kids["raw-data-marketing"].end_time
    assert kids["dbt-attribution"].start_time >= kids["raw-data-marketing"].end_time
    assert all(k.state.is_completed() for k in kids.values()) and len(kids) == 6
    counts = platform.counts(start, end)
    assert counts["warehouse"] == counts["lake"] > 0 and counts["duplicates"] == 0
    record(
        "5 a landing held up holds back only what reads it",
        passed=True,
        seconds_held_before_dbt_ran=round(time.monotonic() - held, 1),
        dbt_started_before_marketing_ended_s=round(
            (kids["raw-data-marketing"].end_time - kids["dbt-jaffle-shop"].start_time).total_seconds(), 1
        ),
        **rows_against_lake(counts),
    )
