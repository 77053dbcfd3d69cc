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
    with prefect_test_harness(server_startup_timeout=120):
        yield


async def _summary():
    async with get_client() as client:
        artifacts = await client.read_artifacts()
    newest_first = sorted(artifacts, key=lambda a: a.created, reverse=True)
    return next((a for a in newest_first if a.key == "platform-run-summary"), None)


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
    assert "**Lineage:** no view yet (the dashboards flow draws it)" in summary.data


def test_the_summary_links_the_latest_lineage_view():
    from jaffle_data import lineage
    from prefect.artifacts import create_link_artifact

    for n in (1, 2):
        create_link_artifact(key=lineage.VIEW_ARTIFACT, link=f"file:///data/{n}/lineage.html", link_text="v")
    with pytest.raises(ChildRunFailed):
        asyncio.run(data_platform(start_date=date(2024, 3, 2), end_date=date(2024, 3, 2)))
    summary = asyncio.run(_summary())
    line = "**Lineage:** [every dataset, its owner, last update and freshness](file:///data/2/lineage.html)"
    assert line in summary.data


def test_a_child_that_never_finishes_fails_the_parent_cancels_its_siblings_and_says_so(monkeypatch):
    """No worker serves the ingestion pools here: the children stay Scheduled until the wait gives up.
    The wait is long enough for both launches to be recorded first, even on a loaded machine (with 3 s a
    slow create could still be in flight when the sibling timed out, and was then never started)."""
    from jaffle_coordinator.children import ChildTimedOut
    from jaffle_coordinator.settings import SETTINGS
    from prefect.client.orchestration import get_client as sync_client

    with sync_client(sync_client=True) as client:
        for name in ("raw-data-jaffle-shop", "raw-data-marketing"):
            client.create_deployment(flow_id=client.create_flow_from_name(name), name=name)
    monkeypatch.setattr(SETTINGS, "child_timeout_seconds", 8)
    monkeypatch.setattr(SETTINGS, "wait_slice_seconds", 1)

    with pytest.raises(ChildTimedOut, match=r"child run 'raw-data-\S+ 2024-04-01' did not finish within 8 s"):
        asyncio.run(data_platform(start_date=date(2024, 4, 1), end_date=date(2024, 4, 1)))

    summary = asyncio.run(_summary())
    assert "**Outcome:** failed: child run 'raw-data-" in summary.data
    assert summary.data.count("| Cancelled | run; cancelled by the parent |") == 2
    assert "| dbt-jaffle-shop | not started |" in summary.data
    assert "| launch (s) | run (s) |" in summary.data and "**Launch latency:** no child ran" in summary.data
    children = [r for r in asyncio.run(_flow_runs()) if r.name.endswith(" 2024-04-01")]
    assert sorted(r.state.name for r in children) == ["Cancelled", "Cancelled"]


def test_the_daily_parent_has_a_timeout():
    assert data_platform.timeout_seconds == 6 * 3600
