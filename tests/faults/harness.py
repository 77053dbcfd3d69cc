"""What the fault scenarios share: the platform seen from outside (its CLI, files and API), waits that
fail naming what they waited for, and the processes of a flow run.

The waits are hang guards, not timings: a scenario fails if its run has not ended well after the bound
the platform's settings promise.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
from jaffle_contract.datasets import WAREHOUSE_LEASE_SECONDS
from jaffle_ops import recovery
from jaffle_ops.secrets import read_auth_string

ROOT = Path(__file__).resolve().parents[2]
# Hang guards: the crash automation's window plus the server's evaluation loop and a busy machine's slack.
CRASH_BOUND = recovery.CRASH_AFTER_SECONDS + 240
# A dead holder's slot: its lease, the server's 15 s repossessor loop, and slack.
SLOT_BOUND = WAREHOUSE_LEASE_SECONDS + 15 + 60
RUN_BOUND = 900
# The jaffle_shop landing's deployment, which the scenarios on the lake run by themselves.
SHOP_INGESTION = "raw-data-jaffle-shop/raw-data-jaffle-shop"


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
    shims = [p for p in started if b"jaffle_runtime.launcher" in Path(f"/proc/{p}/cmdline").read_bytes()]
    return sorted(found) if not shims or len(found) > len(started) else []


def slot_freed(platform: Platform) -> None:
    wait_for("the warehouse slot freed", lambda: platform.warehouse_slots() == 0, SLOT_BOUND)


def rows_against_lake(counts: dict[str, int]) -> dict[str, int]:
    """Orders the warehouse lacks or repeats, against the lake's partitions for the same days."""
    return {
        "rows_lost": counts["lake"] - counts["warehouse"] + counts["duplicates"],
        "rows_duplicated": counts["duplicates"],
    }


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


def trigger(platform: Platform, deployment: str, parameters: dict):
    """Run a team's deployment once with these parameters (as the UI's Run button does); its final run."""
    from prefect.client.schemas.objects import FlowRun

    with platform.client() as client:
        found = client.read_deployment_by_name(deployment)
        run: FlowRun = client.create_flow_run_from_deployment(found.id, parameters=parameters)
    return final(platform, run.id)


def parquet_files(folder: Path) -> dict[str, bytes]:
    """Every Parquet file under `folder` (by its path there) with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.parquet"))}
