"""The parent runs its children by the datasets' graph: a child starts once what it reads is done, and a
child whose producer failed is not started while the children that do not need it go on."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date

import pytest
from jaffle_coordinator import children, daily, plan, summary
from prefect import flow
from prefect.client.schemas.objects import FlowRun
from prefect.states import Completed, Failed
from prefect.testing.utilities import prefect_test_harness


@pytest.fixture(scope="module", autouse=True)
def prefect_api():
    with prefect_test_harness(server_startup_timeout=120):
        yield


class Children:
    """Stands in for the API: each child 'runs' for its delay, then ends as told."""

    def __init__(
        self, delays: dict[str, float], fail: frozenset = frozenset(), refuse: frozenset = frozenset()
    ):
        self.delays, self.fail, self.refuse = delays, fail, refuse
        self.events: list[tuple[str, str]] = []

    async def launch(self, child, parameters, run_name, earlier, extra_tags=()):
        self.events.append(("start", child.name))
        return children.Launched(child, FlowRun(id=uuid.uuid4(), flow_id=uuid.uuid4(), name=run_name), "run")

    async def wait_resubmitting(self, item, *args, **kwargs):
        await asyncio.sleep(self.delays.get(item.child.name, 0.01))
        if item.child.name in self.refuse:  # its resubmission found no deployment
            raise plan.ChildRunFailed([(item.child.deployment, item.run.name, "NotDeployed", "gone")])
        failed = item.child.name in self.fail
        item.run.state = Failed(message="injected") if failed else Completed()
        self.events.append(("end", item.child.name))
        return item.run


def _run(monkeypatch, fake: Children) -> tuple[list, dict[str, str], BaseException | None]:
    monkeypatch.setattr(children, "launch", fake.launch)
    monkeypatch.setattr(children, "wait_resubmitting", fake.wait_resubmitting)
    launched: list = []
    blocked: dict[str, str] = {}

    @flow
    async def parent() -> None:
        window = plan.Window(date(2024, 3, 1), date(2024, 3, 2))
        await daily.run_graph(window, set(), {}, launched, blocked)

    try:
        asyncio.run(parent())
    except plan.ChildRunFailed as error:
        return launched, blocked, error
    return launched, blocked, None


def test_a_build_starts_while_a_landing_it_does_not_read_still_runs(monkeypatch):
    fake = Children({"raw-data-marketing": 1.5})
    launched, blocked, error = _run(monkeypatch, fake)
    assert error is None and blocked == {} and len(launched) == len(plan.CHILDREN)
    events = fake.events
    assert events.index(("start", "dbt-jaffle-shop")) < events.index(("end", "raw-data-marketing"))
    assert events.index(("start", "sales-forecast")) < events.index(("end", "raw-data-marketing"))
    # what reads marketing waits for it
    assert events.index(("start", "dbt-attribution")) > events.index(("end", "raw-data-marketing"))
    for child in plan.CHILDREN:  # and nothing starts before what it reads has ended
        for producer in child.producers:
            assert events.index(("start", child.name)) > events.index(("end", producer))


def test_a_failed_producer_leaves_its_readers_not_started_and_the_rest_goes_on(monkeypatch):
    fake = Children({"raw-data-marketing": 0.5}, fail={"raw-data-jaffle-shop"})
    launched, blocked, error = _run(monkeypatch, fake)
    assert [run for _, run, _, _ in error.failures] == ["raw-data-jaffle-shop 2024-03-01..2024-03-02"]
    assert {item.child.name for item in launched} == {"raw-data-jaffle-shop", "raw-data-marketing"}
    assert ("end", "raw-data-marketing") in fake.events  # not cancelled: nothing it feeds failed
    assert blocked["dbt-jaffle-shop"] == "raw-data-jaffle-shop"
    assert set(blocked) == {"dbt-jaffle-shop", "dbt-attribution", "sales-forecast", "dashboards"}
    rows = summary.run_rows(launched, list(plan.CHILD_NAMES), [], blocked)
    row = next(r for r in rows if r["name"] == "dbt-jaffle-shop")
    assert row["state"] == "not started" and row["how"] == "raw-data-jaffle-shop did not complete"


def test_a_child_whose_resubmission_is_refused_fails_alone(monkeypatch):
    fake = Children({}, refuse={"raw-data-marketing"})
    _, blocked, error = _run(monkeypatch, fake)
    assert [state for _, _, state, _ in error.failures] == ["NotDeployed"]
    assert blocked == {"dbt-attribution": "raw-data-marketing", "dashboards": "dbt-attribution"}
    assert ("end", "sales-forecast") in fake.events  # the branch that does not read it finished


def test_a_landing_chosen_for_a_source_reaches_only_that_sources_ingestion_child(monkeypatch):
    fake = Children({})
    sent: dict[str, dict] = {}

    async def launch(child, parameters, run_name, earlier, extra_tags=()):
        sent[child.name] = parameters
        return await fake.launch(child, parameters, run_name, earlier, extra_tags)

    monkeypatch.setattr(children, "launch", launch)
    monkeypatch.setattr(children, "wait_resubmitting", fake.wait_resubmitting)

    @flow
    async def parent() -> None:
        window = plan.Window(date(2024, 3, 1), date(2024, 3, 2))
        await daily.run_graph(window, set(), {}, [], {}, {"jaffle_shop": "landing"})

    asyncio.run(parent())
    window = {"start_date": "2024-03-01", "end_date": "2024-03-02"}
    assert sent["raw-data-jaffle-shop"] == {**window, "ingest_from": "landing"}
    assert sent["raw-data-marketing"] == window  # its flow's own default
    assert all(sent[name] == window for name in plan.CHILD_NAMES if not name.startswith("raw-data"))
