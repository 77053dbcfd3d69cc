"""The automation that alerts a team's run started by itself: made once from the registry, and on a real
server, a team run that fails starts the alert deployment with that run's id; a run of a deployment that
is not a team's starts nothing. (tests/faults/test_alerts.py follows one to its owner's receiver.)"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from jaffle_contract.deployments import DATA_PLATFORM, DATA_PLATFORM_ALERT, SALES_FORECAST
from jaffle_ops import standalone
from jaffle_ops.workspace import COORDINATOR, teams
from prefect.client.orchestration import get_client
from prefect.testing.utilities import prefect_test_harness

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.compat  # it leans on Prefect's automations and their templates


def test_it_watches_every_team_deployment_and_none_of_the_coordinators():
    watched = standalone.team_deployments(ROOT)
    everyone = {d["name"] for team in teams(ROOT) for d in team.deployments}
    assert SALES_FORECAST in watched and DATA_PLATFORM not in watched and DATA_PLATFORM_ALERT not in watched
    coordinator = next(team for team in teams(ROOT) if team.env == COORDINATOR)
    assert everyone - set(watched) == {d["name"] for d in coordinator.deployments}


@pytest.fixture(scope="module")
def client():
    with prefect_test_harness(server_startup_timeout=120), get_client(sync_client=True) as client:
        yield client


def _deployment(client, name: str):
    from prefect import flow

    @flow(name=name)
    def stand_in() -> None: ...

    return client.create_deployment(client.create_flow(stand_in), name)


def test_a_team_run_that_fails_runs_the_alert_deployment_with_its_id_and_a_parents_run_does_not(client):
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.states import Crashed, Failed

    assert standalone.ensure(ROOT, client) == []  # no alert deployment yet: nothing to run
    alert = _deployment(client, DATA_PLATFORM_ALERT)
    assert standalone.ensure(ROOT, client) == [f"automation {standalone.NAME}"]
    assert standalone.ensure(ROOT, client) == []  # again: unchanged
    forecast, parent = _deployment(client, SALES_FORECAST), _deployment(client, DATA_PLATFORM)
    failed = client.create_flow_run_from_deployment(forecast, name="witty-beetle")
    client.set_flow_run_state(failed.id, Failed(), force=True)
    crashed = client.create_flow_run_from_deployment(forecast, name="killed")
    client.set_flow_run_state(crashed.id, Crashed(), force=True)
    not_a_team = client.create_flow_run_from_deployment(parent, name="a-parent")
    client.set_flow_run_state(not_a_team.id, Failed(), force=True)

    def alert_runs() -> list:
        return client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[alert])))

    deadline = time.monotonic() + 90
    while len(alert_runs()) < 2 and time.monotonic() < deadline:
        time.sleep(1)
    time.sleep(5)  # the parent's failure would have started one by now too
    assert sorted(r.parameters["flow_run_id"] for r in alert_runs()) == sorted(
        [str(failed.id), str(crashed.id)]
    )
