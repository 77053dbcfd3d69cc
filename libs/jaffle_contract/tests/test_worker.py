"""Which events wake the platform's process worker: those of runs in its own pool."""

from __future__ import annotations

from uuid import uuid4

from jaffle_contract.worker import SCHEDULED, names_pool
from prefect.events import Event


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
