from __future__ import annotations

from pathlib import Path

import pytest
from jaffle_ops import admin, workspace
from jaffle_ops.pools import docker_template
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.testing.utilities import prefect_test_harness

TEMPLATE = docker_template(Path("/srv/data"), user="1000:1000")


@pytest.fixture(scope="module")
def client():
    with prefect_test_harness(server_startup_timeout=120), get_client(sync_client=True) as client:
        yield client


class WorkerFirst:
    """The client of a deploy whose pool a worker creates (with Prefect's default template) between
    the deploy's read and its create, as a compose stack's workers do when they start first."""

    def __init__(self, client):
        self._client = client

    def __getattr__(self, name):
        return getattr(self._client, name)

    def create_work_pool(self, work_pool):
        self._client.create_work_pool(WorkPoolCreate(name=work_pool.name, type=work_pool.type))
        return self._client.create_work_pool(work_pool)


def test_a_pool_a_worker_created_first_is_given_the_platforms_template(client, capsys):
    admin._ensure_pool(WorkerFirst(client), "raced", "docker", TEMPLATE)
    pool = client.read_work_pool("raced")
    assert pool.type == "docker"
    assert pool.base_job_template == TEMPLATE
    assert "raced: the platform's job template" in capsys.readouterr().out


def test_a_pool_is_created_once_and_a_changed_infrastructure_replaces_it(client, capsys):
    admin._ensure_pool(client, "steady", "process", {})
    first = client.read_work_pool("steady")
    admin._ensure_pool(client, "steady", "process", {})
    assert client.read_work_pool("steady").id == first.id
    admin._ensure_pool(client, "steady", "docker", TEMPLATE)
    replaced = client.read_work_pool("steady")
    assert (replaced.type, replaced.base_job_template) == ("docker", TEMPLATE)
    assert capsys.readouterr().out.count("created steady") == 2


def test_the_data_roots_credentials_are_kept_only_for_an_object_store_with_keys(monkeypatch):
    from jaffle_ops.admin import storage_options
    from jaffle_ops.settings import OpsSettings

    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "JAFFLE_DATA_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    assert storage_options(OpsSettings()) == {}  # a local data root needs none
    monkeypatch.setenv("JAFFLE_DATA_URL", "s3://jaffle/data")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")
    assert storage_options(OpsSettings()) == {
        "key": "id",
        "secret": "secret",
        "client_kwargs": {"endpoint_url": "http://127.0.0.1:9000"},
    }
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session")  # temporary credentials need their token
    assert storage_options(OpsSettings())["token"] == "session"


def test_pausing_schedules_pauses_the_platforms_deployments_and_never_another_on_the_same_server(client):
    """A shared server: a foreign deployment with a schedule, and one that shares a platform deployment's
    name under another flow, stay active while every platform deployment is paused."""
    from datetime import timedelta

    from prefect.client.schemas.actions import DeploymentScheduleCreate
    from prefect.client.schemas.schedules import IntervalSchedule

    def scheduled(flow: str, name: str):
        hourly = DeploymentScheduleCreate(schedule=IntervalSchedule(interval=timedelta(hours=1)), active=True)
        return client.create_deployment(client.create_flow_from_name(flow), name, schedules=[hourly])

    names = [d["name"] for team in workspace.teams(workspace.repo_root()) for d in team.deployments]
    assert len(names) > 1, names
    for name in names:
        scheduled(name, name)
    foreign = [scheduled("someone-elses-flow", "nightly"), scheduled("someone-elses-flow", names[0])]

    assert admin.pause_deployments(client, names) == names
    for name in names:
        assert client.read_deployment_by_name(f"{name}/{name}").paused, name
    for deployment in foreign:
        stays = client.read_deployment(deployment)
        assert not stays.paused and all(s.active for s in stays.schedules), stays.name
