"""A flow run forked from the team's warm parent gets what a stock run (a new interpreter) gets, in the
ML team's environment (numpy on OpenBLAS, threadpoolctl): its own random draws and uuids, the
interpreter's path, time zone and BLAS threads, the threads it starts its flow with, and every event it
emits, drained to the server before it exits. The same probe flow runs 20 times at once on a pool whose
command is the warm launcher and 20 times on a stock process pool, on one real server; a few runs of the
warm pool started cold (the same command, a new interpreter) tell the fork's doing from the command's."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
from jaffle_runtime import freshness, launcher
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import StateType
from prefect.events.filters import EventFilter, EventNameFilter
from prefect.settings import PREFECT_API_URL
from prefect.testing.utilities import prefect_test_harness
from prefect.workers.process import ProcessWorker

# A real server, the platform's process workers and a warm parent, started here: the integration tier.
pytestmark = pytest.mark.integration

# How many runs each kind makes, all at once: forked from the warm parent, on the stock pool, and on the
# warm pool without its socket (started cold by the launcher: the same command, a new interpreter).
RUNS = {"warm": 20, "stock": 20, "cold": 3}
POOLS = ("warm", "stock")
EVENTS = 100  # each run emits, as the last thing it does
EVENT = "jaffle.parity.probe"  # their name; each names its run and index in its resource id
# Started by the engine's heartbeat thread (its first heartbeat) while the flow's body starts: at flow
# start some runs of every kind have it and some not.
RACING_THREAD = "EventsWorkerThread"

PROBE = Path(__file__).parent / "fixtures" / "parity_probe.py"  # the flow, in a package of its own


def _wait(predicate, what: str, seconds: float):
    """A hang guard: `predicate`'s first value that is not None, polled until `seconds` have passed."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if (value := predicate()) is not None:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _spawn(command: list[str], env: dict[str, str], package: Path, log: Path) -> subprocess.Popen:
    """Started in the team's package folder, as `./dev up` starts the warm parent and the workers."""
    with log.open("ab") as out:
        return subprocess.Popen(command, env=env, cwd=package, stdout=out, stderr=subprocess.STDOUT)


def _package(root: Path) -> Path:
    package = root / "probe"
    package.mkdir()
    (package / "flows.py").write_text(PROBE.read_text())
    (package / "prefect.yaml").write_text(
        textwrap.dedent("""
        name: parity-probe
        deployments:
          - name: parity-probe
            entrypoint: flows.py:probe
        """)
    )
    return package


def _deploy(client, package: Path) -> dict:
    """One deployment of the probe per pool: "warm" runs the warm launcher's command, "stock" Prefect's."""
    warm = ProcessWorker.get_default_base_job_template()
    warm["variables"]["properties"]["command"]["default"] = launcher.COMMAND
    templates = {"warm": warm, "stock": ProcessWorker.get_default_base_job_template()}
    flow_id = client.create_flow_from_name("parity-probe")
    deployments = {}
    for pool in POOLS:
        client.create_work_pool(WorkPoolCreate(name=pool, type="process", base_job_template=templates[pool]))
        deployments[pool] = client.create_deployment(
            flow_id,
            f"parity-{pool}",
            work_pool_name=pool,
            entrypoint="flows.py:probe",
            pull_steps=[{"prefect.deployments.steps.set_working_directory": {"directory": str(package)}}],
        )
    return deployments


def _start_runs(client, deployments: dict) -> dict:
    """Every run, created before any is waited for, by tag ("warm-0", ...)."""
    job = {"warm": {}, "stock": {}, "cold": {"env": {launcher.SOCKET_ENV: ""}}}  # cold: no warm parent named
    runs = {}
    for kind, count in RUNS.items():
        for n in range(count):
            tag = f"{kind}-{n}"
            runs[tag] = client.create_flow_run_from_deployment(
                deployments["stock" if kind == "stock" else "warm"],
                parameters={"tag": tag, "event": EVENT, "events": EVENTS},
                job_variables=job[kind],
            )
    return runs


def _finals(client, runs: dict) -> dict:
    """Each run's final state by tag, once every run has one."""
    tags = {run.id: tag for tag, run in runs.items()}

    def done():
        found = client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=list(tags))))
        states = {tags[run.id]: run.state for run in found}
        return states if all(s is not None and s.is_final() for s in states.values()) else None

    return _wait(done, f"{len(runs)} flow runs to end", 420)


def _arrived(client, expected: int) -> dict[str, set[int]]:
    """The indexes of the probe events the server holds, by run, once it holds `expected` of them (or
    the guard ran out: the test then names what is missing)."""

    def query() -> EventFilter:  # made anew for each read: its time window ends when it is made
        return EventFilter(event=EventNameFilter(name=[EVENT]))

    with contextlib.suppress(AssertionError):
        _wait(lambda: True if client.read_events(query(), limit=1).total >= expected else None, "events", 60)
    page = client.read_events(query(), limit=50)  # the server's page size
    found = list(page.events)
    while page.next_page:
        page = client.read_events_page(str(page.next_page))
        found += page.events
    arrived: dict[str, set[int]] = {}
    for event in found:
        tag, index = event.resource.id.removeprefix(f"{EVENT}.").rsplit(".", 1)
        arrived.setdefault(tag, set()).add(int(index))
    return arrived


@pytest.fixture(scope="module")
def parity(tmp_path_factory):
    root = tmp_path_factory.mktemp("parity")
    package, probes, socket = _package(root), root / "probes", root / "warm.sock"
    probes.mkdir()
    with prefect_test_harness(server_startup_timeout=120), get_client(sync_client=True) as client:
        # One environment for the warm parent and both workers: only how a run starts differs.
        env = {
            **os.environ,
            "PREFECT_API_URL": PREFECT_API_URL.value(),
            "PROBE_DIR": str(probes),
            launcher.SOCKET_ENV: str(socket),
            "PREFECT_WORKER_QUERY_SECONDS": "5",  # the safety net under the workers' Scheduled events
            # SQLite at 43 runs and 4,300 events at once, on 2 cores others use too, can answer 503 for
            # over a minute (measured): a worker's API calls retry longer than Prefect's default 5 times.
            "PREFECT_CLIENT_MAX_RETRIES": "7",
        }
        deployments = _deploy(client, package)
        serve = ["supervise", "--socket", str(socket), "--package", str(package)]
        supervisor = _spawn(
            [sys.executable, "-m", launcher.__name__, *serve], env, package, root / "warm.log"
        )
        procs = [supervisor]
        try:
            _wait(lambda: True if socket.exists() else None, "the warm parent's socket", 90)
            (parent,) = Path(f"/proc/{supervisor.pid}/task/{supervisor.pid}/children").read_text().split()
            workers = {}
            for pool in POOLS:
                command = [sys.executable, "-m", "jaffle_runtime.worker", "--pool", pool, "--name", pool]
                procs.append(_spawn(command, env, package, root / f"{pool}-worker.log"))
                workers[pool] = procs[-1].pid
            for pool in POOLS:
                _wait(lambda pool=pool: client.read_workers_for_work_pool(pool) or None, f"{pool} worker", 60)
            runs = _start_runs(client, deployments)
            states = _finals(client, runs)
            probed = {tag: probes / f"{tag}.json" for tag in runs}
            yield {
                "package": str(package),
                "parent": int(parent),
                "workers": workers,
                "states": states,
                "records": {tag: json.loads(p.read_text()) for tag, p in probed.items() if p.exists()},
                "parent_hash": json.loads((probes / f"imported-{parent}.json").read_text())["hash"],
                "arrived": _arrived(client, sum(RUNS.values()) * EVENTS),
            }
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.terminate()
                    proc.wait(timeout=30)


def _of(parity: dict, kind: str) -> list[dict]:
    """The records of one kind's runs (every run must have written one)."""
    tags = [f"{kind}-{n}" for n in range(RUNS[kind])]
    assert not (missing := [t for t in tags if t not in parity["records"]]), f"no record from {missing}"
    return [parity["records"][tag] for tag in tags]


def test_every_run_completes_and_only_the_warm_pools_runs_are_forked_from_the_warm_parent(parity):
    assert {tag: state.type for tag, state in parity["states"].items()} == dict.fromkeys(
        parity["states"], StateType.COMPLETED
    )
    assert sorted(parity["records"]) == sorted(parity["states"])
    assert {r["ppid"] for r in _of(parity, "warm")} == {parity["parent"]}
    # a stock run is the stock worker's child; a cold one is the warm pool's worker's (the launcher's
    # `run` became `python -m prefect.engine` in place)
    assert {r["ppid"] for r in _of(parity, "stock")} == {parity["workers"]["stock"]}
    assert {r["ppid"] for r in _of(parity, "cold")} == {parity["workers"]["warm"]}


def test_every_run_draws_its_own_random_numbers_and_uuids(parity):
    records = list(parity["records"].values())
    for drawn in ("numpy", "random", "uuid"):
        assert len({r[drawn] for r in records}) == len(records), drawn


def _folders(path: list[str]) -> list[str]:
    """A run's sys.path with the folder it was started in (a temporary one of Prefect's process worker,
    each run its own) named as such."""
    started = lambda p: Path(p).parent == Path(tempfile.gettempdir()) and p.endswith("prefect")  # noqa: E731
    return ["<start>" if started(p) else p for p in path]


def test_a_forked_run_has_the_path_time_zone_and_blas_threads_of_a_stock_run(parity):
    # A run of the warm pool's command, forked or cold, has the same path, entry for entry, with the
    # folder the worker started it in where `python -m` puts it (measured: package, package, start
    # folder, then the interpreter's and environment's folders; Prefect puts the flow script's folder
    # and the one it loads it from, the package both times, in front when it loads the script). A stock
    # run, which Prefect's worker starts in the package, has the package there (measured: 4 copies of
    # it in front). The same folders in the same order otherwise.
    package, warm, cold, stock = parity["package"], *(_of(parity, kind) for kind in ("warm", "cold", "stock"))
    assert len({tuple(_folders(r["path"])) for r in warm + cold}) == 1
    assert len({tuple(r["path"]) for r in stock}) == 1
    in_order = list(dict.fromkeys(_folders(warm[0]["path"])))
    assert in_order == [package, "<start>", *list(dict.fromkeys(stock[0]["path"]))[1:]]
    assert {(tuple(r["tzname"]), tuple(r["blas"])) for r in warm + stock} == {
        (tuple(stock[0]["tzname"]), tuple(stock[0]["blas"]))
    }
    assert stock[0]["blas"] and all(stock[0]["blas"])  # OpenBLAS was found, with its threads


def test_a_forked_run_starts_its_flow_with_the_threads_of_a_cold_run_less_openblas_pool(parity):
    """OS threads at flow start. A run on the warm pool (forked or cold) also has the two threads
    Prefect's engine resolves the flow with (RunSyncEventLoopThread, AnyIO worker thread), which a stock
    run does not: for a pool without a command Prefect's worker resolves it and hands the engine its
    entrypoint. A forked run has no OpenBLAS worker threads yet: OpenBLAS stops them before a fork and a
    process starts its own on its first BLAS call (so after one it has the stock run's)."""

    def python(record: dict) -> list[str]:
        return [name for name in record["threads"]["python"] if name != RACING_THREAD]

    def counted(record: dict) -> int:  # the OS threads, less the racing one where it had started
        return record["threads"]["count"] - (RACING_THREAD in record["threads"]["python"])

    warm, cold, stock = (_of(parity, kind) for kind in ("warm", "cold", "stock"))
    pool = stock[0]["blas"][0] - 1  # OpenBLAS's worker threads: all but the caller
    assert {tuple(python(r)) for r in warm} == {tuple(python(r)) for r in cold}
    assert all(set(python(stock[0])) <= set(python(r)) for r in warm)
    assert len({tuple(python(r)) for r in stock}) == 1
    assert [r["threads"]["native"] for r in cold + stock] == [pool] * len(cold + stock)
    assert [r["threads"]["native"] for r in warm] == [0] * len(warm)
    assert {counted(r) for r in warm} == {counted(r) - pool for r in cold}
    assert [r["native_after_blas"] for r in warm + cold + stock] == [pool] * len(warm + cold + stock)


def test_a_forked_run_has_its_parents_hash_seed_and_a_stock_run_its_own(parity):
    # Python fixes the hash seed when an interpreter starts; a fork cannot reseed it. Every stock (or
    # cold) run is an interpreter of its own, with its own seed; every forked run has the warm parent's.
    # A run that needs its own seed sets PYTHONHASHSEED in its job variables: a start-time setting
    # (freshness.START_TIME_PREFIXES), which makes it start cold.
    assert "PYTHONHASHSEED".startswith(freshness.START_TIME_PREFIXES)
    started = _of(parity, "stock") + _of(parity, "cold")
    assert len({r["hash"] for r in started}) == len(started)
    assert {r["hash"] for r in _of(parity, "warm")} == {parity["parent_hash"]}


def test_every_event_a_run_emits_as_it_ends_reaches_the_server(parity):
    # a forked run drains Prefect's event queue before it exits, as an interpreter does at its exit
    assert parity["arrived"] == {tag: set(range(EVENTS)) for tag in parity["states"]}
