"""Children of a parent run against a real (temporary) Prefect API: start, rerun, reuse, cancel."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from jaffle_coordinator import children, plan
from jaffle_coordinator.summary import outcome_of, run_rows
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.states import Completed, Failed
from prefect.testing.utilities import prefect_test_harness

CHILD = plan.Child("team-flow/team-flow")
PARAMETERS = {"start_date": "2024-03-01", "end_date": "2024-03-02"}


@pytest.fixture(scope="module", autouse=True)
def deployment():
    """A deployment no worker serves: its runs stay Scheduled until a test sets their state."""
    with prefect_test_harness(server_startup_timeout=120), get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name("team-flow")
        client.create_deployment(flow_id=flow_id, name="team-flow")
        yield


def _set(run_id, state) -> None:
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(run_id, state, force=True)


@flow
async def parent_attempts() -> list[tuple[str, str]]:
    """One parent run that launches the child as three of its attempts would."""
    name = "team-flow 1"
    first = await children.launch(CHILD, PARAMETERS, name, [])
    again = await children.launch(CHILD, PARAMETERS, name, [])  # a create repeated after a lost answer
    seen = [(first.how, str(first.run.id)), (again.how, str(again.run.id))]
    _set(first.run.id, Failed(message="boom"))
    second = await children.launch(CHILD, PARAMETERS, name, (await children.earlier_children())["team-flow"])
    seen.append((second.how, str(second.run.id)))
    _set(second.run.id, Completed())
    third = await children.launch(CHILD, PARAMETERS, name, (await children.earlier_children())["team-flow"])
    seen.append((third.how, str(third.run.id)))
    return seen


def test_a_retried_parent_reruns_a_failed_child_and_reuses_a_completed_one():
    seen = asyncio.run(parent_attempts())
    (first, first_id), (_, again_id), (second, second_id), (third, third_id) = seen
    assert first == "run" and again_id == first_id  # the idempotency key returned the same run
    assert second == "rerun (attempt 2)" and second_id != first_id
    assert third == "reused: completed earlier" and third_id == second_id


@flow
async def parent_that_cancels() -> tuple[list[str], str]:
    item = await children.launch(CHILD, PARAMETERS, "team-flow 2", [])
    cancelled = await children.cancel_unfinished([item])
    async with get_client() as client:
        state = (await client.read_flow_run(item.run.id)).state.name
    return cancelled, state


def test_a_child_no_worker_started_is_cancelled_at_once():
    cancelled, state = asyncio.run(parent_that_cancels())
    assert cancelled == ["team-flow 2"] and state == "Cancelled"


def test_the_outcome_says_what_ended_the_run():
    assert outcome_of(None) == "completed"
    assert outcome_of(asyncio.CancelledError()) == "cancelled"
    assert outcome_of(children.ChildTimedOut("child run 'x' did not finish within 5 s")) == (
        "failed: child run 'x' did not finish within 5 s"
    )
    assert outcome_of(TimeoutError("Flow run exceeded timeout of 60.0 second(s)")).startswith(
        "failed: the parent run timed out"
    )
    assert outcome_of(ConnectionError("refused")) == "failed: ConnectionError: refused"


def test_children_never_started_are_listed_as_such():
    rows = run_rows([], ["raw-data-jaffle-shop", "dashboards"], [])
    assert [(r["name"], r["state"]) for r in rows] == [
        ("raw-data-jaffle-shop", "not started"),
        ("dashboards", "not started"),
    ]


@flow
async def parent_whose_child_crashed(ran_first: bool) -> tuple[str, int]:
    """The child's run crashes before it runs (as a worker that cannot submit it marks it) or while
    it runs; no worker serves the deployment, so a run submitted again stays Scheduled."""
    from prefect.states import Crashed, Running

    name = f"team-flow crashed {'running' if ran_first else 'unsubmitted'}"
    item = await children.launch(CHILD, PARAMETERS, name, [])
    if ran_first:
        _set(item.run.id, Running())
    _set(item.run.id, Crashed(message="Failed to submit flow run to infrastructure: 503"))
    children.SUBMIT_RETRY_SECONDS = 0.1
    with contextlib.suppress(children.ChildTimedOut):
        await children.wait_resubmitting(item, PARAMETERS, [], 3, 1, 30)
    return item.how, len((await children.earlier_children())["team-flow"])


def test_a_child_that_crashed_before_it_ran_is_submitted_again_and_one_that_ran_is_not():
    assert asyncio.run(parent_whose_child_crashed(ran_first=False)) == ("rerun (attempt 2)", 2)
    assert asyncio.run(parent_whose_child_crashed(ran_first=True)) == ("run", 1)


def test_a_run_that_reads_as_unfinished_after_its_terminal_event_is_waited_on(monkeypatch):
    """Prefect's wait returns on a terminal-state event and reads the run once more: a run that reads
    as Running then is not taken for ended."""
    import uuid

    from prefect.client.schemas.objects import FlowRun
    from prefect.states import Running

    reads = [Running(), Completed()]

    async def wait_for_flow_run(flow_run_id, timeout):
        return FlowRun(id=flow_run_id, flow_id=uuid.uuid4(), name="child", state=reads.pop(0))

    monkeypatch.setattr(children, "wait_for_flow_run", wait_for_flow_run)
    run = FlowRun(id=uuid.uuid4(), flow_id=uuid.uuid4(), name="child")
    ended = asyncio.run(children.wait(run, timeout=30, poll_seconds=0.01, unreachable_seconds=5))
    assert ended.state.is_completed() and reads == []
