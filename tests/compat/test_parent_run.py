"""One parent run against child deployments, as the coordinator runs them, on whichever Prefect this
environment holds: the compatibility tier's end-to-end check (docs/upgrading.md).

A real server, two child deployments on each of two process pools whose command is the warm launcher,
with a warm parent under `supervise`, and a parent flow that starts both children at once the
coordinator's way (a deployment run with `timeout=0`, tagged with its parent) and waits for them:
- on the pool served by the platform's worker (`jaffle_runtime.worker`);
- on the pool served by the same worker where Prefect "moved" a private name the prompt worker needs
  (made to fail from outside, by a sitecustomize on the worker's path): the worker serves it with
  Prefect's own process worker, with a warning naming the symbol, and the parent run still completes.

The whole platform's parent (every team in its own environment) is tests/integration/test_platform.py's:
too heavy to run twice more."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from jaffle_runtime import launcher
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
POOLS = ("warm", "fallback")
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


# The prompt worker's import of a Prefect name fails as it would on a release that moved it; Prefect's
# own modules load as they are.
MOVED = "EngineCommandStarter"
SITECUSTOMIZE = f"""
import sys

class Moved:
    def find_spec(self, name, path=None, target=None):
        if name == "jaffle_runtime.prompt_worker":
            raise ImportError("cannot import name {MOVED!r} from 'prefect.runner._starter_engine'")
        return None

sys.meta_path.insert(0, Moved())
"""


@pytest.fixture(scope="module")
def children(tmp_path_factory):
    """The child deployments on both pools, a warm parent, and the platform's worker serving each pool
    (the fallback pool's with the prompt worker made to fail)."""
    root = tmp_path_factory.mktemp("children")
    package = root / "pkg"
    package.mkdir()
    (package / "flows.py").write_text(CHILD_FLOWS)
    (package / "prefect.yaml").write_text(
        "deployments:\n" + "".join(f"  - name: {n}\n    entrypoint: flows.py:{n}\n" for n in CHILDREN)
    )
    (root / "moved").mkdir()
    (root / "moved" / "sitecustomize.py").write_text(SITECUSTOMIZE)
    template = ProcessWorker.get_default_base_job_template()
    template["variables"]["properties"]["command"]["default"] = launcher.COMMAND
    processes: list[subprocess.Popen] = []
    with prefect_test_harness(server_startup_timeout=120), get_client(sync_client=True) as client:
        env = {
            **os.environ,
            "PREFECT_API_URL": PREFECT_API_URL.value(),
            launcher.SOCKET_ENV: str(root / "warm.sock"),
        }
        for pool in POOLS:
            client.create_work_pool(WorkPoolCreate(name=pool, type="process", base_job_template=template))
            for name in CHILDREN:
                client.create_deployment(
                    client.create_flow_from_name(name),
                    f"{name}-{pool}",
                    work_pool_name=pool,
                    entrypoint=f"flows.py:{name}",
                    pull_steps=[
                        {"prefect.deployments.steps.set_working_directory": {"directory": str(package)}}
                    ],
                )
        try:
            supervise = ["supervise", "--socket", str(root / "warm.sock"), "--package", str(package)]
            processes.append(_spawn(["-m", "jaffle_runtime.launcher", *supervise], env, root / "warm.log"))
            _wait(lambda: (root / "warm.sock").exists(), "the warm parent")
            moved = {
                **env,
                "PYTHONPATH": os.pathsep.join(filter(None, [str(root / "moved"), env.get("PYTHONPATH")])),
            }
            for pool, worker_env in zip(POOLS, (env, moved), strict=True):
                worker = ["-m", "jaffle_runtime.worker", "--pool", pool, "--name", f"{pool}-1"]
                processes.append(_spawn(worker, worker_env, root / f"worker-{pool}.log"))
                _wait(lambda pool=pool: client.read_workers_for_work_pool(pool), f"the {pool} worker online")
            yield client, root
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=30)


@flow(name="compat-parent")
async def parent(day: str, pool: str) -> None:
    """Start every child at once, tagged with this run (as the coordinator's `children.launch`), then
    wait for each to end; a child that did not complete fails the parent."""
    tag = f"parent:{flow_run.get_id()}"
    started = [
        await arun_deployment(f"{name}/{name}-{pool}", parameters={"day": day}, timeout=0, tags=[tag])
        for name in CHILDREN
    ]
    ended = await asyncio.gather(*(wait_for_flow_run(run.id, timeout=WAIT_SECONDS) for run in started))
    failed = [run.name for run in ended if not (run.state and run.state.is_completed())]
    if failed:
        raise RuntimeError(f"child runs did not complete: {', '.join(failed)}")


def _parent_run_completes(client, pool: str) -> None:
    state = asyncio.run(parent("2024-03-01", pool, return_state=True))
    assert state.type == StateType.COMPLETED, state
    # the children are found by their parent's tag, as the coordinator finds an earlier attempt's
    tagged = FlowRunFilter(tags=FlowRunFilterTags(all_=[f"parent:{state.state_details.flow_run_id}"]))
    found = client.read_flow_runs(flow_run_filter=tagged)
    names = sorted(client.read_deployment(run.deployment_id).name for run in found)
    assert names == sorted(f"{name}-{pool}" for name in CHILDREN)
    assert all(run.work_pool_name == pool and run.state.is_completed() for run in found), found


def test_a_parent_run_completes_with_every_child_forked_by_the_platforms_worker(children):
    client, root = children
    _parent_run_completes(client, "warm")
    forked = (root / "worker-warm.log").read_text()
    assert "starting this run cold" not in forked, forked[-2000:]  # both children came from the warm parent
    assert "prompt worker cannot load" not in forked


def test_a_worker_whose_prefect_moved_a_private_name_still_completes_a_parent_run(children):
    client, root = children
    _parent_run_completes(client, "fallback")
    said = (root / "worker-fallback.log").read_text()
    assert "prompt worker cannot load" in said and MOVED in said, said[-2000:]
    assert "Prefect's own process worker" in said


def _spawn(arguments: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, *arguments], env=env, stdout=out, stderr=subprocess.STDOUT)


def _wait(predicate, what: str, seconds: float = 120):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")
