from __future__ import annotations

import asyncio
from datetime import date

import pytest
from jaffle_coordinator.flows import data_platform
from jaffle_coordinator.plan import ChildRunFailed
from prefect.client.orchestration import get_client
from prefect.testing.utilities import prefect_test_harness


@pytest.fixture(scope="module", autouse=True)
def prefect_api():
    with prefect_test_harness():
        yield


async def _summary():
    async with get_client() as client:
        artifacts = await client.read_artifacts()
    return next((a for a in artifacts if a.key == "platform-run-summary"), None)


async def _flow_runs():
    async with get_client() as client:
        return await client.read_flow_runs()


def test_end_before_start_fails_before_any_child_starts():
    with pytest.raises(ValueError, match="end_date 2024-03-01 is before start_date 2024-03-05"):
        asyncio.run(data_platform(start_date=date(2024, 3, 5), end_date=date(2024, 3, 1)))
    runs = asyncio.run(_flow_runs())
    assert [r.flow_id for r in runs] and len(runs) == 1  # only the parent itself


def test_an_undeployed_child_fails_the_parent_by_name_and_the_summary_still_runs():
    with pytest.raises(
        ChildRunFailed, match=r"raw-data-jaffle-shop 2024-03-01' of deployment .* ended NotDeployed"
    ):
        asyncio.run(data_platform(start_date=date(2024, 3, 1), end_date=date(2024, 3, 1)))
    summary = asyncio.run(_summary())
    assert summary and "failed: child run 'raw-data-jaffle-shop 2024-03-01'" in summary.data
