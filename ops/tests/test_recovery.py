from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from httpx import HTTPStatusError
from jaffle_ops import recovery
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, GlobalConcurrencyLimitUpdate
from prefect.server.concurrency.lease_storage import ConcurrencyLimitLeaseMetadata
from prefect.server.concurrency.lease_storage.filesystem import ConcurrencyLeaseStorage
from prefect.testing.utilities import prefect_test_harness

# The crash automations and the lease repair lean on Prefect's automations API and its lease storage:
# the compatibility tier runs them on the oldest and the newest Prefect the platform supports.
pytestmark = pytest.mark.compat


@pytest.fixture(scope="module")
def client():
    """A Prefect server with the settings `up` gives the platform's."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in recovery.server_environment().items():
            patch.setenv(name, value)
        with prefect_test_harness(server_startup_timeout=120), get_client(sync_client=True) as client:
            yield client


def test_the_crash_automations_are_made_once_and_mark_silent_runs_crashed(client):
    made = [recovery.CRASH_AUTOMATION, recovery.START_AUTOMATION]
    assert recovery.ensure_automations(client) == made
    assert recovery.ensure_automations(client) == []  # `up` again changes nothing
    [automation] = client.read_automations_by_name(recovery.CRASH_AUTOMATION)
    assert automation.enabled
    assert automation.trigger.posture == "Proactive"
    assert automation.trigger.after == {"prefect.flow-run.heartbeat"}
    assert automation.trigger.within == timedelta(seconds=recovery.CRASH_AFTER_SECONDS)
    assert [a.state.value for a in automation.actions] == ["CRASHED"]
    assert recovery.flow_run_environment() == {
        "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30",
        "PREFECT_CLIENT_MAX_RETRIES": str(recovery.CLIENT_RETRIES),
    }
    # a server restart of API_OUTAGE_SECONDS: the client's retries (2, 4, 8, ... s) wait longer, and
    # the heartbeats it stops are fewer than a crash takes
    waited = sum(2**n for n in range(1, recovery.CLIENT_RETRIES + 1))
    assert waited > recovery.OUTAGE_SECONDS and recovery.CRASH_AFTER_SECONDS > recovery.OUTAGE_SECONDS + 30


def test_an_automation_read_back_with_its_events_in_another_order_is_the_same():
    wanted = recovery.crash_automation()
    sent = wanted.model_dump(mode="json")
    for field in ("expect", "after", "for_each"):
        sent["trigger"][field] = sorted(sent["trigger"][field], reverse=True)
    read_back = type(wanted).model_validate(sent)
    assert recovery.same_definition(read_back, wanted)
    sent["trigger"]["expect"].remove("prefect.flow-run.Crashed")
    assert not recovery.same_definition(type(wanted).model_validate(sent), wanted)


def test_a_changed_crash_automation_is_replaced_not_duplicated(client):
    [automation] = client.read_automations_by_name(recovery.CRASH_AUTOMATION)
    client.pause_automation(automation.id)
    assert recovery.ensure_automations(client) == [recovery.CRASH_AUTOMATION]
    [again] = client.read_automations_by_name(recovery.CRASH_AUTOMATION)
    assert again.enabled and again.id != automation.id


def test_a_run_taken_by_its_worker_that_never_starts_is_marked_crashed(client):
    """The start automation, end to end on a real server with a short bound: a run left Pending (its
    process never came) is Crashed with a message saying so; one that went on to Running is not."""
    import time

    from prefect import flow
    from prefect.states import Pending, Running

    @flow(name="never-started")
    def never_started() -> None: ...

    client.create_automation(
        recovery.start_automation(within=timedelta(seconds=10)).model_copy(update={"name": "start-10s"})
    )
    stuck = client.create_flow_run(never_started, name="stuck")
    started = client.create_flow_run(never_started, name="started")
    for run in (stuck, started):
        client.set_flow_run_state(run.id, Pending(), force=True)
    client.set_flow_run_state(started.id, Running(), force=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not client.read_flow_run(stuck.id).state.is_final():
        time.sleep(2)
    ended = client.read_flow_run(stuck.id)
    assert ended.state.is_crashed(), ended.state
    assert "Pending for 10 s without starting" in ended.state.message
    assert ended.run_count == 0  # never ran: the parent's rule for submitting it again
    assert client.read_flow_run(started.id).state.is_running()


def test_slots_no_lease_backs_are_given_back_and_leased_ones_kept(client, tmp_path):
    leaked = client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name="leaked", limit=2))
    held = client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name="held", limit=2))
    for name in ("leaked", "held"):
        client.update_global_concurrency_limit(name, GlobalConcurrencyLimitUpdate(active_slots=2))
    storage = ConcurrencyLeaseStorage(storage_path=tmp_path)
    asyncio.run(storage.create_lease([held], timedelta(seconds=60), ConcurrencyLimitLeaseMetadata(slots=2)))
    assert recovery.leased_slots(tmp_path) == {str(held): 2}
    assert str(leaked) != str(held) and isinstance(leaked, uuid.UUID)

    repaired = recovery.repair_slots(client, tmp_path)

    assert repaired == ["leaked: 2 slot(s) taken, 0 held by a lease"]
    assert client.read_global_concurrency_limit_by_name("leaked").active_slots == 0
    assert client.read_global_concurrency_limit_by_name("held").active_slots == 2
    assert recovery.repair_slots(client, tmp_path) == []  # nothing left to repair


def test_no_lease_folder_means_no_lease_holds_anything(tmp_path):
    assert recovery.leased_slots(tmp_path / "missing") == {}


def test_a_build_waiting_for_a_taken_slot_is_told_to_ask_again_within_the_platform_bound(client):
    """Prefect tells a waiter to come back after the slot's average hold times the queue (up to 30 s):
    with ten waiters, tens of seconds during which a freed warehouse sits idle. The platform's server
    caps it: each waiter asks again within about SLOT_WAIT_SECONDS (Prefect's jitter: up to 1.3 x)."""
    client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name="warehouse-like", limit=1))
    asked = {"names": ["warehouse-like"], "slots": 1, "mode": "concurrency", "lease_duration": 60}
    client.increment_concurrency_slots_with_lease(**asked)  # the running build holds it
    told = []
    for _ in range(10):  # ten builds queue behind it
        with pytest.raises(HTTPStatusError) as refused:
            client.increment_concurrency_slots_with_lease(**asked)
        assert refused.value.response.status_code == 423
        told.append(float(refused.value.response.headers["Retry-After"]))
    assert max(told) <= 1.3 * recovery.SLOT_WAIT_SECONDS, told
