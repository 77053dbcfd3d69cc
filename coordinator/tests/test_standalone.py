"""A team's run started by itself alerts its owner when it fails; a parent's child, a backfill's cell, a
canary and a run retried since do not (someone else reports them). The rules as plain functions, then
the `data-platform-alert` flow against a real Prefect API: runs of a team deployment, one alone, one a
parent's, ended Failed."""

from __future__ import annotations

import asyncio
import time

import pytest
from jaffle_contract import alerts as contract
from jaffle_coordinator import alerts, standalone
from jaffle_coordinator.flows import data_platform_alert
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.states import Failed
from prefect.testing.utilities import prefect_test_harness


def test_only_a_run_that_nobody_else_reports_is_alerted():
    assert standalone.why_not(["team:ml-forecast"], "FAILED") is None
    assert standalone.why_not(["team:ml-forecast"], "CRASHED") is None
    assert "parent run 0693" in (standalone.why_not(["parent:0693", "child:sales-forecast"], "FAILED") or "")
    assert "backfill" in (standalone.why_not(["backfill"], "FAILED") or "")
    assert "canary" in (standalone.why_not(["canary", "team:ml-forecast"], "FAILED") or "")
    assert "retried since" in (standalone.why_not([], "RUNNING") or "")


def test_the_owner_is_the_plans_child_else_the_teams_tag_and_a_stranger_holds_back_nothing():
    child = standalone.child_of("sales-forecast/sales-forecast", [])
    assert child.team == "ml-forecast" and child.name == "sales-forecast"
    stranger = standalone.child_of("churn/churn", ["team:finance"])
    assert stranger.team == "finance"
    assert alerts.held_back(stranger.name) == ([], [])
    assert standalone.child_of("churn/churn", []).team == contract.PLATFORM


@pytest.fixture(scope="module")
def prefect_api():
    with prefect_test_harness(server_startup_timeout=120):
        yield


@flow(name="sales-forecast")
def sales_forecast() -> None:
    """A stand-in for the ML team's flow: only its name and deployment matter here."""


async def _failed_run(tags: list[str]):
    async with get_client() as client:
        flow_id = await client.create_flow(sales_forecast)
        deployment_id = await client.create_deployment(flow_id, "sales-forecast", tags=["team:ml-forecast"])
        run = await client.create_flow_run_from_deployment(deployment_id, tags=tags, name="witty-beetle")
        await client.set_flow_run_state(run.id, Failed(message="NotADirectoryError: lake/ml"), force=True)
        return run


async def _alerts_sent() -> list:
    from prefect.events.filters import EventFilter, EventNameFilter

    async with get_client() as client:
        page = await client.read_events(
            filter=EventFilter(event=EventNameFilter(name=[contract.EVENT])), limit=50
        )
    return page.events


def test_a_run_started_alone_that_failed_alerts_its_owner_and_a_parents_child_does_not(prefect_api):
    alone = asyncio.run(_failed_run([]))
    said = asyncio.run(data_platform_alert(flow_run_id=alone.id))
    assert said == {"run": "witty-beetle", "alerted": "ml-forecast"}
    child = asyncio.run(_failed_run(["parent:0693b1c0", "child:sales-forecast"]))
    skipped = asyncio.run(data_platform_alert(flow_run_id=child.id))
    assert skipped["alerted"] is None and "parent run 0693b1c0" in skipped["skipped"]

    deadline = time.monotonic() + 60
    while not (sent := asyncio.run(_alerts_sent())) and time.monotonic() < deadline:
        time.sleep(0.5)
    (event,) = sent
    assert event.resource[contract.OWNER] == "ml-forecast"
    payload = event.payload
    assert payload["subject"] == "[ml-forecast] sales-forecast witty-beetle ended Failed"
    assert (
        "NotADirectoryError: lake/ml" in payload["text"]
        and "Started: by itself (no parent run)" in payload["text"]
    )
    assert payload["url"].endswith(f"/runs/flow-run/{alone.id}")
    assert {"ml.revenue_forecast", "dashboards.dashboard"} <= set(payload["held_back_datasets"])
