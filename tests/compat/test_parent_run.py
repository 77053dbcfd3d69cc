"""One parent run against child deployments, as the coordinator runs them, on whichever Prefect this
environment holds: the compatibility tier's end-to-end check (docs/upgrading.md).

A real server, two child deployments on a process pool served by the platform's worker
(`jaffle_runtime.worker`), and a parent flow that starts both at once the coordinator's way (a
deployment run with `timeout=0`, tagged with its parent) and waits for them. The whole platform's
parent (every team in its own environment) is tests/integration/test_platform.py's: too heavy to run
twice more."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
from prefect.client.schemas.objects import StateType
from prefect.deployments import arun_deployment
from prefect.flow_runs import wait_for_flow_run
from prefect.runtime import flow_run
from prefect.settings import PREFECT_API_URL
from prefect.testing.utilities import prefect_test_harness
from prefect.workers.process import ProcessWorker

pytestmark = [pytest.mark.compat, pytest.mark.integration]

CHILDREN = ("land", "build")
POOL = "compat"
WAIT_SECONDS = 300  # a hang guard, not a timing
CHILD_FLOWS = """
from prefect import flow


@flow(name="land")
def land(day: str) -> str:
    return f"landed {day}"


@flow(name="build")
def build(day: str) -> str:
    return f"built {day}"
"""


@pytest.fixture(scope="module")
def children(tmp_path_factory):
    """The two child deployments, and the platform's worker serving their pool."""
    package = tmp_path_factory.mktemp("children")
    (package / "flows.py").write_text(CHILD_FLOWS)
    with prefect_test_harness(server_startup_timeout=120), get_client(sync_client=True) as client:
        client.create_work_pool(
            WorkPoolCreate(
                name=POOL, type="process", base_job_template=ProcessWorker.get_default_base_job_template()
            )
        )
        for name in CHILDREN:
            client.create_deployment(
                client.create_flow_from_name(name),
                name,
                work_pool_name=POOL,
                entrypoint=f"flows.py:{name}",
                pull_steps=[{"prefect.deployments.steps.set_working_directory": {"directory": str(package)}}],
            )
        worker = _start_worker(package.parent / "worker.log")
        try:
            _wait(lambda: client.read_workers_for_work_pool(POOL), "the worker online")
            yield client
        finally:
            worker.terminate()
            worker.wait(timeout=30)


@flow(name="compat-parent")
async def parent(day: str) -> None:
    """Start every child at once, tagged with this run (as the coordinator's `children.launch`), then
    wait for each to end; a child that did not complete fails the parent."""
    tag = f"parent:{flow_run.get_id()}"
    started = [
        await arun_deployment(f"{name}/{name}", parameters={"day": day}, timeout=0, tags=[tag])
        for name in CHILDREN
    ]
    ended = await asyncio.gather(*(wait_for_flow_run(run.id, timeout=WAIT_SECONDS) for run in started))
    failed = [run.name for run in ended if not (run.state and run.state.is_completed())]
    if failed:
        raise RuntimeError(f"child runs did not complete: {', '.join(failed)}")


def test_a_parent_run_completes_with_every_child_run_by_the_platforms_worker(children):
    state = asyncio.run(parent("2024-03-01", return_state=True))
    assert state.type == StateType.COMPLETED, state
    # the children are found by their parent's tag, as the coordinator finds an earlier attempt's
    tagged = FlowRunFilter(tags=FlowRunFilterTags(all_=[f"parent:{state.state_details.flow_run_id}"]))
    found = children.read_flow_runs(flow_run_filter=tagged)
    assert sorted(children.read_deployment(run.deployment_id).name for run in found) == sorted(CHILDREN)
    assert all(run.work_pool_name == POOL and run.state.is_completed() for run in found), found


def _start_worker(log: Path) -> subprocess.Popen:
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    command = [sys.executable, "-m", "jaffle_runtime.worker", "--pool", POOL, "--name", f"{POOL}-1"]
    with log.open("ab") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


def _wait(predicate, what: str, seconds: float = 120):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")
