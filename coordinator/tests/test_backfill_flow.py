"""The backfill flow on a Prefect server: a dry run lists the cells, a run with no team deployed fails
the ingestion cells by name, blocks everything after them, and leaves its grid for the next run."""

from __future__ import annotations

import asyncio
import json
from datetime import date

import pytest
from jaffle_coordinator import backfill, plan
from jaffle_coordinator.flows import data_platform_backfill
from prefect.client.orchestration import get_client
from prefect.testing.utilities import prefect_test_harness

RANGE = {"start_date": date(2024, 5, 1), "end_date": date(2024, 5, 14)}  # 2 chunks of 7 days


@pytest.fixture(scope="module", autouse=True)
def prefect_api():
    with prefect_test_harness(server_startup_timeout=120):
        yield


async def _artifact(key: str):
    async with get_client() as client:
        found = await client.read_artifacts()
    return next((a for a in sorted(found, key=lambda a: a.created, reverse=True) if a.key == key), None)


def test_a_dry_run_lists_every_cell_and_starts_nothing():
    result = asyncio.run(data_platform_backfill(**RANGE, dry_run=True))
    assert len(result["would_run"]) == 2 * len(plan.CHILD_NAMES)
    assert "dbt-jaffle-shop 2024-05-08..2024-05-14" in result["would_run"]

    async def runs():
        async with get_client() as client:
            return await client.read_flow_runs()

    assert len(asyncio.run(runs())) == 1  # the backfill itself


def test_cells_that_cannot_run_fail_by_name_block_what_needs_them_and_leave_the_grid():
    with pytest.raises(
        plan.ChildRunFailed, match=r"raw-data-jaffle-shop 2024-05-01\.\.2024-05-07.*NotDeployed"
    ):
        asyncio.run(data_platform_backfill(**RANGE, attempts=1, backoff_seconds=0.1))
    window = plan.Window(RANGE["start_date"], RANGE["end_date"])
    table = asyncio.run(_artifact(backfill.artifact_key(window)))
    rows = json.loads(table.data) if isinstance(table.data, str) else table.data
    states = {row["child"]: row["2024-05-01..2024-05-07"].split()[1] for row in rows}
    assert states["raw-data-jaffle-shop"] == "failed" and states["dbt-jaffle-shop"] == "blocked"
    # the next backfill of the range, reprocess failed: every cell, as none completed
    again = asyncio.run(data_platform_backfill(**RANGE, reprocess="failed", dry_run=True))
    assert len(again["would_run"]) == 2 * len(plan.CHILD_NAMES)
