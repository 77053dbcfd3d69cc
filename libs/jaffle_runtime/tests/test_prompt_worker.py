"""Which events wake the platform's process worker (those of runs in its own pool), and when it stops
sharing one executor context between runs."""

from __future__ import annotations

import asyncio
import logging
from uuid import uuid4

from jaffle_runtime.prompt_worker import SCHEDULED, PromptProcessWorker, SharedExecutorContext, names_pool
from prefect.events import Event
from prefect.workers.process import ProcessJobConfiguration, ProcessWorker


def scheduled(pool: str | None) -> Event:
    related = [{"prefect.resource.id": f"prefect.flow.{uuid4()}", "prefect.resource.role": "flow"}]
    if pool:
        related.append(
            {
                "prefect.resource.id": f"prefect.work-pool.{uuid4()}",
                "prefect.resource.role": "work-pool",
                "prefect.resource.name": pool,
            }
        )
    return Event(
        event=SCHEDULED,
        resource={"prefect.resource.id": f"prefect.flow-run.{uuid4()}"},
        related=related,
    )


def test_a_run_scheduled_in_the_pool_wakes_its_worker():
    assert names_pool(scheduled("dbt"), "dbt")


def test_runs_of_other_pools_and_runs_without_a_pool_do_not():
    assert not names_pool(scheduled("ml"), "dbt")
    assert not names_pool(scheduled(None), "dbt")


def test_a_shared_context_whose_cancellation_watch_gave_up_says_so():
    shared = SharedExecutorContext()
    shared._logger = logging.getLogger("test")  # not entered (no server): what __aenter__ would set
    assert not shared.failed
    shared._handle_cancellation_observer_failure(set())
    assert shared.failed


def test_after_that_each_run_takes_prefects_per_run_path(monkeypatch):
    taken = []

    async def stock_run(self, flow_run, configuration, task_status=None):
        taken.append(flow_run)
        return "stock"

    monkeypatch.setattr(ProcessWorker, "run", stock_run)
    worker = PromptProcessWorker(work_pool_name="p", name="w")
    worker._executors = SharedExecutorContext()
    worker._executors.failed = True
    configuration = ProcessJobConfiguration(command="python -m jaffle_runtime.launcher run")
    configuration._command_configured = True
    assert asyncio.run(worker.run("a run", configuration)) == "stock"
    assert taken == ["a run"]
