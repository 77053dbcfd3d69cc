"""The warm launcher on a real Prefect server with the platform's process worker: runs forked from the
warm parent, a killed run Crashed with the parent alive, Cancel, a code change reaching the next run,
and a run that starts cold when the warm parent is gone. The worker polls once an hour, so every run
here is taken on its Scheduled event (jaffle_runtime.worker)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from jaffle_runtime import launcher
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
from prefect.client.schemas.objects import StateType
from prefect.events import Event
from prefect.events.clients import get_events_client
from prefect.settings import PREFECT_API_URL
from prefect.states import Cancelling
from prefect.testing.utilities import prefect_test_harness
from prefect.workers.process import ProcessWorker

# A real server, the platform's process worker and a warm parent, started here: the integration tier.
pytestmark = pytest.mark.integration

FLOWS = """
import importlib, json, os, random, sys, threading, time, tomllib
from pathlib import Path

from prefect import flow, get_run_logger
from prefect._internal import control_listener
from prefect.settings import get_current_settings

import helper
import sharedlib  # a library on the path outside the package, as the contract library is

# read when the flow script is imported, as a team's datasets.toml is
SETTING = tomllib.loads(Path(__file__).with_name("settings.toml").read_text())["VALUE"]


@flow(name="probe")
def probe(tag: str, sleep: float = 0.0, lazy: str = "") -> str:
    get_run_logger().info("probe %s says %s", tag, helper.VALUE)
    had_lazy = lazy in sys.modules  # forked: imported already only if the parent had imported it
    if lazy:
        importlib.import_module(lazy)
    record = {
        "had_lazy": had_lazy,
        "library": sharedlib.VALUE,
        # the port of the control channel that supervises this run (the engine took it from its env)
        "control_port": control_listener._configured_port,
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "value": helper.VALUE,
        "level": get_current_settings().logging.level,
        "setting": SETTING,
        "draw": random.random(),
        "tzname": time.tzname[0],
        "omp": os.environ.get("OMP_NUM_THREADS"),
    }
    out = Path(os.environ["PROBE_DIR"]) / f"{tag}.json"
    out.write_text(json.dumps(record))
    time.sleep(sleep)
    return helper.VALUE
"""


def _wait(predicate, what: str, seconds: float = 120):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if (value := predicate()) is not None:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class Parent:
    def __init__(self, pid: int):
        self.pid = pid

    def poll(self) -> int | None:
        return None if _alive(self.pid) else 0


class Platform:
    def __init__(self, root: Path, client, env: dict[str, str]):
        self.root, self.client, self.env = root, client, env
        self.package, self.probes = root / "pkg", root / "probes"
        self.socket = root / "warm.sock"
        self.supervisor: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None

    def start_warm(self) -> None:
        """The warm parent as `up` starts it: under `supervise`, which starts it again if it dies."""
        serve = ["supervise", "--socket", str(self.socket), "--package", str(self.package)]
        command = [sys.executable, "-m", "jaffle_runtime.launcher", *serve]
        self.supervisor = _spawn(command, self.env, self.root / "warm.log")
        _wait(lambda: True if self.socket.exists() else None, "the warm parent's socket", 60)

    @property
    def warm(self) -> Parent:
        """The warm parent now serving: the last to say it is ready (a new one takes the socket over)."""
        ready = [line for line in (self.root / "warm.log").read_text().splitlines() if "ready on" in line]
        return Parent(int(ready[-1].rsplit("(pid ", 1)[1].rstrip(")")) if ready else -1)

    def run(
        self, tag: str, sleep: float = 0.0, env: dict[str, str] | None = None, lazy: str = "", **job_variables
    ):
        return self.client.create_flow_run_from_deployment(
            self.deployment,
            parameters={"tag": tag, "sleep": sleep, "lazy": lazy},
            job_variables={"env": env or {}, **job_variables},
        )

    def final(self, run):
        def done():
            state = self.client.read_flow_run(run.id).state
            return state if state and state.is_final() else None

        return _wait(done, f"flow run {run.name} to end")

    def probe(self, tag: str) -> dict:
        path = self.probes / f"{tag}.json"
        return _wait(lambda: json.loads(path.read_text()) if path.exists() else None, f"probe {tag}")


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    root = tmp_path_factory.mktemp("warm")
    package = root / "pkg"
    package.mkdir()
    (package / "flows.py").write_text(FLOWS)
    (package / "helper.py").write_text('VALUE = "first"\n')
    (package / "settings.toml").write_text('VALUE = "first"\n')
    (package / "prefect.yaml").write_text(
        textwrap.dedent("""
        name: probe
        deployments:
          - name: probe
            entrypoint: flows.py:probe
        """)
    )
    (root / "probes").mkdir()
    (root / "lib").mkdir()  # on the path, not in the package, not installed: source folders
    (root / "lib" / "sharedlib.py").write_text('VALUE = "first"\n')  # the flow script imports it
    (root / "lib" / "lazy_probe.py").write_text('VALUE = "first"\n')  # a run imports it, lazily
    with prefect_test_harness(server_startup_timeout=120), get_client(sync_client=True) as client:
        env = {
            **os.environ,
            "PREFECT_API_URL": PREFECT_API_URL.value(),
            "PROBE_DIR": str(root / "probes"),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(root / "lib"), os.environ.get("PYTHONPATH")])),
            launcher.SOCKET_ENV: str(root / "warm.sock"),
            # after its first poll at start, only a Scheduled event can wake this worker
            "PREFECT_WORKER_QUERY_SECONDS": "3600",
        }
        template = ProcessWorker.get_default_base_job_template()
        template["variables"]["properties"]["command"]["default"] = launcher.COMMAND
        client.create_work_pool(WorkPoolCreate(name="warm", type="process", base_job_template=template))
        flow_id = client.create_flow_from_name("probe")
        platform = Platform(root, client, env)
        platform.deployment = client.create_deployment(
            flow_id,
            "probe",
            work_pool_name="warm",
            entrypoint="flows.py:probe",
            pull_steps=[{"prefect.deployments.steps.set_working_directory": {"directory": str(package)}}],
        )
        platform.start_warm()
        worker = [sys.executable, "-m", "jaffle_runtime.worker", "--pool", "warm", "--name", "warm-1"]
        platform.worker = _spawn(worker, env, root / "worker.log")
        _wait(lambda: True if client.read_workers_for_work_pool("warm") else None, "the worker online", 60)
        try:
            yield platform
        finally:
            for proc in (platform.worker, platform.supervisor):
                if proc and proc.poll() is None:
                    proc.terminate()
                    proc.wait(timeout=30)


def test_a_run_is_forked_from_the_warm_parent_and_logs_to_the_api(platform):
    run = platform.run("hello")
    assert platform.final(run).type == StateType.COMPLETED
    record = platform.probe("hello")
    assert record["ppid"] == platform.warm.pid and record["value"] == "first"
    logs = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id]))

    def said():
        messages = [log.message for log in platform.client.read_logs(log_filter=logs)]
        return True if "probe hello says first" in messages else None

    _wait(said, "the run's log in the API", 30)


def test_the_worker_takes_a_run_on_its_scheduled_event_between_polls(platform):
    time.sleep(1)  # well after the worker's one poll at start: the next is an hour away
    run = platform.run("prompt")
    assert platform.final(run).type == StateType.COMPLETED
    assert platform.probe("prompt")["ppid"] == platform.warm.pid
    # the worker logs as `prefect worker start` does: in its own log and in the run's
    assert f"submitting flow run '{run.id}'" in (platform.root / "worker.log").read_text()
    logs = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id]))

    def said():
        messages = [log.message for log in platform.client.read_logs(log_filter=logs)]
        return True if any("submitting flow run" in message for message in messages) else None

    _wait(said, "the worker's line in the run's logs", 30)


def test_each_forked_run_has_the_prefect_settings_of_its_own_environment(platform):
    # the parent makes settings once per distinct set of PREFECT_ variables, before it forks
    for tag, env, level in (
        ("default-level", None, "INFO"),
        ("debug-level", {"PREFECT_LOGGING_LEVEL": "DEBUG"}, "DEBUG"),
        ("default-again", None, "INFO"),
    ):
        run = platform.run(tag, env=env)
        assert platform.final(run).type == StateType.COMPLETED
        record = platform.probe(tag)
        assert (record["ppid"], record["level"]) == (platform.warm.pid, level), tag
    # made again only for the DEBUG run and the one after it: a run with its worker's environment,
    # the same as the parent's, finds the settings the parent's own import made
    made = [line for line in (platform.root / "warm.log").read_text().splitlines() if "made again" in line]
    assert len(made) == 2 and all(line.endswith("PREFECT_LOGGING_LEVEL differ") for line in made), made


def test_a_run_without_a_command_takes_the_stock_path_of_the_same_worker(platform):
    # the pool's command unset for this run: Prefect's own `python -m prefect.engine`, started by the
    # worker itself, supervised by Prefect's per-run executor context
    run = platform.run("stock", command=None)
    assert platform.final(run).type == StateType.COMPLETED
    assert platform.probe("stock")["ppid"] == platform.worker.pid


def test_the_parent_imports_the_libraries_its_runs_imported_not_the_teams_code(platform):
    # `wave`, of the standard library, nothing here imports but the run; `lazy_probe` is source code
    # on the path (as a team's own is), which a run imports itself, in its own environment
    for lazy, learned in (("wave", True), ("lazy_probe", False)):
        first = platform.run(f"{lazy}-first", lazy=lazy)
        assert platform.final(first).type == StateType.COMPLETED
        record = platform.probe(f"{lazy}-first")
        assert record["had_lazy"] is False
        _learned(platform, record)
        second = platform.run(f"{lazy}-second", lazy=lazy)
        assert platform.final(second).type == StateType.COMPLETED
        record = platform.probe(f"{lazy}-second")
        assert (record["ppid"], record["had_lazy"]) == (platform.warm.pid, learned), lazy


def test_one_executor_context_supervises_every_warm_run_and_a_stock_run_has_its_own(platform):
    ports = []
    for tag, job in (("context-a", {}), ("context-b", {}), ("context-stock", {"command": None})):
        run = platform.run(tag, **job)
        assert platform.final(run).type == StateType.COMPLETED
        ports.append(platform.probe(tag)["control_port"])
    assert ports[0] and ports[0] == ports[1] != ports[2]


def test_a_killed_run_is_crashed_and_the_warm_parent_lives_on(platform):
    run = platform.run("killed", sleep=120)
    record = platform.probe("killed")
    assert record["ppid"] == platform.warm.pid
    os.kill(record["pid"], signal.SIGKILL)
    assert platform.final(run).type == StateType.CRASHED
    assert platform.warm.poll() is None
    # the worker sees what it sees of a stock run killed so (an OOM kill): -9, and Prefect's hint
    assert "exited with status code: -9" in (platform.root / "worker.log").read_text()
    after = platform.run("after-kill")
    assert platform.final(after).type == StateType.COMPLETED
    assert platform.probe("after-kill")["ppid"] == platform.warm.pid


def test_a_killed_launcher_takes_its_run_with_it_and_the_warm_parent_lives_on(platform):
    # The worker's process of a run is the launcher's `run` (the shim): killed right after its parent
    # answered, the run it asked for must not go on unwatched, and the parent serves on.
    parent = platform.warm.pid
    run = platform.run("shim-killed", sleep=120)
    record = platform.probe("shim-killed")
    assert record["ppid"] == parent
    shim = _shim_of(run.id)
    os.kill(shim, signal.SIGKILL)
    _wait(lambda: None if _running(record["pid"]) else True, "the forked run to end with its launcher", 30)
    assert platform.final(run).type == StateType.CRASHED
    assert _alive(parent) and platform.warm.pid == parent
    after = platform.run("after-shim-killed")
    assert platform.final(after).type == StateType.COMPLETED
    assert platform.probe("after-shim-killed")["ppid"] == parent


def _shim_of(flow_run_id) -> int:
    """The launcher process (`python -m jaffle_runtime.launcher run`) the worker started for a run."""
    wanted = f"PREFECT__FLOW_RUN_ID={flow_run_id}".encode()
    for proc in Path("/proc").iterdir():
        try:
            command = (proc / "cmdline").read_bytes().split(b"\0")
            launcher_run = b"jaffle_runtime.launcher" in command and b"run" in command
            if launcher_run and wanted in (proc / "environ").read_bytes().split(b"\0"):
                return int(proc.name)
        except (OSError, ValueError):
            continue
    raise AssertionError(f"no launcher process for flow run {flow_run_id}")


def test_cancel_stops_a_forked_run(platform):
    run = platform.run("cancelled", sleep=120)
    record = platform.probe("cancelled")
    platform.client.set_flow_run_state(run.id, Cancelling(), force=True)
    assert platform.final(run).type == StateType.CANCELLED
    _wait(lambda: None if _alive(record["pid"]) else True, "the cancelled run's process to end", 60)
    assert platform.warm.poll() is None


def test_a_cancellation_that_cannot_be_carried_out_leaves_the_worker_serving(platform):
    # The run is deleted from the server, then a Cancelling event names it: the worker's cancellation
    # fails to read it. It is logged, and the worker (whose context is shared by its runs) lives on.
    run = platform.run("deleted", sleep=120)
    record = platform.probe("deleted")
    platform.client.delete_flow_run(run.id)
    event = Event(
        event="prefect.flow-run.Cancelling",
        resource={"prefect.resource.id": f"prefect.flow-run.{run.id}"},
    )

    async def emit() -> None:
        async with get_events_client() as events:
            await events.emit(event)

    asyncio.run(emit())
    log = platform.root / "worker.log"
    _wait(
        lambda: True if f"Could not cancel flow run {run.id}" in log.read_text() else None, "the worker", 60
    )
    os.kill(record["pid"], signal.SIGKILL)  # the deleted run's process, which nobody watches now
    assert platform.worker.poll() is None
    after = platform.run("after-failed-cancel")
    assert platform.final(after).type == StateType.COMPLETED


def _a_change_reaches_the_next_run(platform: Platform, changed: Path, field: str, name: str) -> None:
    """Write `changed` anew; the next run sees it (cold while a new parent starts), then warm again,
    from the new parent."""
    old = platform.warm.pid
    time.sleep(0.05)  # a new mtime, even on a coarse clock
    changed.write_text('VALUE = "second"\n')
    run = platform.run(f"{name}-changed")
    assert platform.final(run).type == StateType.COMPLETED
    assert platform.probe(f"{name}-changed")[field] == "second"
    _taken_over(platform, old)
    warm_again = platform.run(f"{name}-warm-again")
    assert platform.final(warm_again).type == StateType.COMPLETED
    record = platform.probe(f"{name}-warm-again")
    assert (record["ppid"], record[field]) == (platform.warm.pid, "second")
    _wait(lambda: None if _alive(old) else True, "the old parent to end", 60)  # it had no run to drain


def _taken_over(platform: Platform, old: int) -> None:
    said = f"took over from pid {old}"
    _wait(lambda: True if said in (platform.root / "warm.log").read_text() else None, "a new parent", 120)


def test_a_code_change_reaches_the_next_run(platform):
    _a_change_reaches_the_next_run(platform, platform.package / "helper.py", "value", "code")


def test_a_change_to_a_library_on_the_path_outside_the_package_reaches_the_next_run(platform):
    # as the contract library is for every team: an editable install, a source folder on the path
    _a_change_reaches_the_next_run(platform, platform.root / "lib" / "sharedlib.py", "library", "library")


def test_a_change_to_a_file_the_flow_reads_at_import_reaches_the_next_run(platform):
    # not code: what a team's datasets.toml is to its flows, read once when the flow script is imported
    _a_change_reaches_the_next_run(platform, platform.package / "settings.toml", "setting", "data")


def test_a_new_parent_takes_over_beside_the_old_one_which_drains_its_running_run(platform):
    old = platform.warm.pid
    long = platform.run("long-on-old", sleep=25)
    assert platform.probe("long-on-old")["ppid"] == old
    time.sleep(0.05)
    (platform.package / "helper.py").write_text('VALUE = "third"\n')
    changed = platform.run("third-changed")
    assert platform.final(changed).type == StateType.COMPLETED
    _taken_over(platform, old)
    # warm from the new parent while the old one's run still runs: a reload waits for no run
    beside = platform.run("third-beside")
    assert platform.final(beside).type == StateType.COMPLETED
    record = platform.probe("third-beside")
    assert (record["ppid"], record["value"]) == (platform.warm.pid, "third") and record["ppid"] != old
    assert _alive(old) and not platform.client.read_flow_run(long.id).state.is_final()
    assert platform.final(long).type == StateType.COMPLETED  # the old parent's run ends as it would have
    _wait(lambda: None if _alive(old) else True, "the old parent to end once drained", 60)


def test_a_new_parent_whose_import_fails_leaves_the_old_one_serving_and_says_why(platform):
    old = platform.warm.pid
    time.sleep(0.05)
    (platform.package / "helper.py").write_text("VALUE = (\n")  # a deploy with a syntax error
    broken = platform.run("broken")
    assert platform.final(broken).type != StateType.COMPLETED  # cold, it fails as a stock run would
    said = f"ended before it was ready (exit 1); pid {old} serves on"
    _wait(lambda: True if said in (platform.root / "warm.log").read_text() else None, "the supervisor", 120)
    assert "SyntaxError" in (platform.root / "warm.log").read_text()  # why: the new parent's traceback
    assert _alive(old) and platform.warm.pid == old and platform.socket.exists()
    time.sleep(0.05)
    (platform.package / "helper.py").write_text('VALUE = "fixed"\n')  # the next deploy mends it
    mended = platform.run("mended")
    assert platform.final(mended).type == StateType.COMPLETED
    assert platform.probe("mended")["value"] == "fixed"  # cold: never the old parent's code
    _taken_over(platform, old)
    warm = platform.run("mended-warm")
    assert platform.final(warm).type == StateType.COMPLETED
    assert platform.probe("mended-warm")["ppid"] == platform.warm.pid != old


def test_every_forked_run_draws_its_own_random_numbers(platform):
    runs = [platform.run(f"draw-{n}", sleep=1) for n in range(3)]
    assert all(platform.final(run).type == StateType.COMPLETED for run in runs)
    records = [platform.probe(f"draw-{n}") for n in range(3)]
    assert {r["ppid"] for r in records} == {platform.warm.pid}
    assert len({r["draw"] for r in records}) == 3, records  # not the parent's generator, copied


def test_a_run_with_its_own_time_zone_is_forked_with_it(platform):
    run = platform.run("tokyo", env={"TZ": "Asia/Tokyo"})
    assert platform.final(run).type == StateType.COMPLETED
    record = platform.probe("tokyo")
    assert (record["ppid"], record["tzname"]) == (platform.warm.pid, "JST")


def test_a_run_whose_start_time_settings_differ_starts_cold_and_says_why(platform):
    run = platform.run("threads", env={"OMP_NUM_THREADS": "3"})
    assert platform.final(run).type == StateType.COMPLETED
    record = platform.probe("threads")
    assert record["ppid"] != platform.warm.pid and record["omp"] == "3"
    assert "OMP_NUM_THREADS" in (platform.root / "worker.log").read_text()


def test_a_stopped_warm_parent_holds_no_run_and_forks_none_late(platform):
    os.kill(platform.warm.pid, signal.SIGSTOP)
    try:
        stopped = platform.warm.pid
        run = platform.run("while-stopped")  # no shorter bound: a stopped parent is seen as such
        assert platform.final(run).type == StateType.COMPLETED
        assert platform.probe("while-stopped")["ppid"] != platform.warm.pid  # started cold
        told = f"(pid {stopped}) is stopped; starting this run cold"
        assert told in (platform.root / "worker.log").read_text()
    finally:
        os.kill(platform.warm.pid, signal.SIGCONT)
    # back, it finds the request whose run did not wait, and does not start that run a second time
    said = "refused a request: its run did not wait for the answer"
    _wait(lambda: True if said in (platform.root / "warm.log").read_text() else None, "the parent", 30)
    after = platform.run("after-stop")
    assert platform.final(after).type == StateType.COMPLETED
    assert platform.probe("after-stop")["ppid"] == platform.warm.pid


def test_a_warm_parent_killed_mid_run_crashes_its_runs_by_name_and_is_started_again(platform):
    run = platform.run("orphaned", sleep=120)
    record = platform.probe("orphaned")
    killed = platform.warm.pid
    assert record["ppid"] == killed
    os.kill(killed, signal.SIGKILL)  # as the OOM killer would
    state = platform.final(run)
    assert state.type == StateType.CRASHED and "warm parent" in (state.message or ""), state
    _wait(lambda: None if _running(record["pid"]) else True, "the run to end with its parent", 30)
    again = "starting it again"
    _wait(lambda: True if again in (platform.root / "warm.log").read_text() else None, "the supervisor", 30)
    _wait(lambda: True if platform.warm.pid not in (killed, -1) else None, "a new warm parent", 60)
    _wait(lambda: True if platform.socket.exists() else None, "its socket", 60)
    after = platform.run("after-parent-killed")
    assert platform.final(after).type == StateType.COMPLETED
    assert platform.probe("after-parent-killed")["ppid"] == platform.warm.pid != killed


def test_without_a_warm_parent_a_run_starts_cold(platform):
    platform.supervisor.send_signal(signal.SIGTERM)  # as `down` stops it
    assert platform.supervisor.wait(timeout=30) == 0
    assert not platform.socket.exists()
    run = platform.run("cold")
    assert platform.final(run).type == StateType.COMPLETED
    assert platform.probe("cold")["ppid"] != platform.warm.pid
    assert "starting this run cold" in (platform.root / "worker.log").read_text()
    platform.start_warm()


# Made to fail from outside the worker: a sitecustomize on its path makes the prompt worker's import of a
# Prefect name fail as it would on a release that moved it (Prefect's own modules, which a release keeps
# consistent, load as they are).
MOVED = "EngineCommandStarter"
SITECUSTOMIZE = f"""
import importlib.abc, sys

class Moved(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "jaffle_runtime.prompt_worker":
            raise ImportError(
                "cannot import name {MOVED!r} from 'prefect.runner._starter_engine'",
                name="prefect.runner._starter_engine",
            )
        return None

sys.meta_path.insert(0, Moved())
"""


def test_a_worker_whose_prefect_moved_a_private_module_serves_its_pool_with_the_stock_worker(platform):
    blocked = platform.root / "moved-prefect"
    blocked.mkdir()
    (blocked / "sitecustomize.py").write_text(SITECUSTOMIZE)
    template = ProcessWorker.get_default_base_job_template()
    template["variables"]["properties"]["command"]["default"] = launcher.COMMAND
    platform.client.create_work_pool(
        WorkPoolCreate(name="fallback", type="process", base_job_template=template)
    )
    deployment = platform.client.create_deployment(
        platform.client.create_flow_from_name("probe"),
        "probe-fallback",
        work_pool_name="fallback",
        entrypoint="flows.py:probe",
        pull_steps=[
            {"prefect.deployments.steps.set_working_directory": {"directory": str(platform.package)}}
        ],
    )
    env = {**platform.env, "PYTHONPATH": os.pathsep.join([str(blocked), platform.env["PYTHONPATH"]])}
    env["PREFECT_WORKER_QUERY_SECONDS"] = "2"  # the stock worker finds runs by polling
    log = platform.root / "fallback-worker.log"
    worker = _spawn(
        [sys.executable, "-m", "jaffle_runtime.worker", "--pool", "fallback", "--name", "f-1"], env, log
    )
    try:
        run = platform.client.create_flow_run_from_deployment(
            deployment, parameters={"tag": "fallback", "sleep": 0.0, "lazy": ""}
        )
        assert platform.final(run).type == StateType.COMPLETED
        platform.probe("fallback")  # the flow itself ran (its probe is written), under the pool's command
        said = log.read_text()
        assert "prompt worker cannot load" in said and MOVED in said, said[-2000:]
        assert "Prefect's own process worker" in said
    finally:
        worker.terminate()
        worker.wait(timeout=30)


def _learned(platform: Platform, record: dict) -> None:
    """Wait until the parent has imported what the probed run imported: the run's process writes their
    names as it exits, and the parent reads them when it reaps it."""
    _wait(lambda: None if _alive(record["pid"]) else True, "the run's process to be reaped", 60)
    unread = "warm.sock.*.imports"
    _wait(lambda: None if list(platform.root.glob(unread)) else True, "the parent to learn", 30)


def _spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan waits for init to reap it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
