"""What `up` sets so that a lost process never freezes the platform.

- Heartbeats: every flow run started by the platform's workers sends `prefect.flow-run.heartbeat`
  every HEARTBEAT_SECONDS. The Prefect server does nothing when they stop, so `up` creates the
  automation Prefect documents for it: a run that has sent a heartbeat and then sends neither another
  one nor a terminal state within CRASH_AFTER_SECONDS is marked Crashed. A parent waiting on it then
  gets its terminal event and fails, naming it.
- Starts: a run its worker took (Pending) whose process never reaches Running sends no heartbeat at
  all, so a second automation marks a run Crashed that is Pending for START_BOUND_SECONDS without
  Running or ending. It never ran, so a parent submits it again (children.py).
- Lease storage: concurrency slots are held through leases that their holder renews while it lives.
  The server keeps them on disk (LEASE_STORAGE), so a server restart neither forgets a live holder nor
  keeps a dead one's slot: an expired lease is revoked by the server, which frees its slots.
- Slot hand-over: a build that finds the warehouse slot taken asks again after the Retry-After the
  server gives it. Prefect makes that the average hold times the queue, up to 30 s, so the warehouse
  sat idle for most of that after each build ended (half a year's backfill, half its wall time). The
  server here caps it at SLOT_WAIT_SECONDS: the next build starts within about that of the last one.
- Slot repair: a slot count no lease backs (left by a server that kept its leases in memory, or by a
  crash between the two writes) is set back to what the leases on disk account for.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from jaffle_contract.datasets import API_OUTAGE_SECONDS

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.events.schemas.automations import AutomationCore
    from prefect.server.concurrency.lease_storage import ConcurrencyLimitLeaseMetadata
    from prefect.server.utilities.leasing import ResourceLease

HEARTBEAT_SECONDS = 30  # Prefect's minimum; its default is 180
# A server restart of up to API_OUTAGE_SECONDS costs a running flow run nothing: its client retries that
# long, and its heartbeats may stop that long and one beat more.
OUTAGE_SECONDS = API_OUTAGE_SECONDS
MISSED_BEATS = OUTAGE_SECONDS // HEARTBEAT_SECONDS + 2  # and a busy machine may delay one more
CRASH_AFTER_SECONDS = HEARTBEAT_SECONDS * MISSED_BEATS
# Prefect's client retries a request (a refused connection too, once it has connected) after 2, 4, 8, ...
# seconds: this many retries wait longer than OUTAGE_SECONDS in all.
CLIENT_RETRIES = next(n for n in range(1, 20) if sum(2**i for i in range(1, n + 1)) > OUTAGE_SECONDS)
CRASH_AUTOMATION = "jaffle-crash-runs-without-heartbeats"
# A process, a container or a pod starts well within this; an image pull on a cold host may not, and
# the run is then submitted again.
START_BOUND_SECONDS = 600
START_AUTOMATION = "jaffle-crash-runs-that-never-start"
TERMINAL_EVENTS = frozenset(
    f"prefect.flow-run.{state}" for state in ("Completed", "Failed", "Cancelled", "Crashed")
)
LEASE_STORAGE = "prefect.server.concurrency.lease_storage.filesystem"
SLOT_WAIT_SECONDS = 1  # a waiter asks this often (jittered); a handful of waiters is a light load


def flow_run_environment() -> dict[str, str]:
    """What every flow run the platform starts needs in its environment."""
    return {
        "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(HEARTBEAT_SECONDS),
        "PREFECT_CLIENT_MAX_RETRIES": str(CLIENT_RETRIES),
    }


def server_environment() -> dict[str, str]:
    """What the server needs: leases on disk (under the server's PREFECT_HOME) and a prompt slot
    hand-over. The compose stack and the Kubernetes manifests set the same (their tests hold them to
    this)."""
    return {
        "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": LEASE_STORAGE,
        "PREFECT_SERVER_CONCURRENCY_MAXIMUM_CONCURRENCY_SLOT_WAIT_SECONDS": str(SLOT_WAIT_SECONDS),
    }


def crash_automation() -> AutomationCore:
    """The documented "crash zombie flows" automation, with the platform's heartbeat settings. (A run
    that is Running without ever beating is not: a flow run from outside the platform's workers sends
    no heartbeats unless its own settings say so.)"""
    return _silence_automation(
        CRASH_AUTOMATION,
        after={"prefect.flow-run.heartbeat"},
        expect={"prefect.flow-run.heartbeat", *TERMINAL_EVENTS},
        within=timedelta(seconds=CRASH_AFTER_SECONDS),
        why=(
            f"Mark a flow run Crashed when it sent heartbeats (every {HEARTBEAT_SECONDS} s) and then "
            f"neither another one nor a terminal state for {CRASH_AFTER_SECONDS} s: its process or "
            "its worker died."
        ),
        message=(
            f"No heartbeat for {CRASH_AFTER_SECONDS} s: the flow run's process or its worker died. "
            "Restart the worker (./dev up) and retry the run."
        ),
    )


def start_automation(within: timedelta = timedelta(seconds=START_BOUND_SECONDS)) -> AutomationCore:
    """A run its worker took (Pending) that neither runs nor ends in `within` is marked Crashed."""
    seconds = int(within.total_seconds())
    return _silence_automation(
        START_AUTOMATION,
        after={"prefect.flow-run.Pending"},
        expect={"prefect.flow-run.Running", "prefect.flow-run.heartbeat", *TERMINAL_EVENTS},
        within=within,
        why=(
            f"Mark a flow run Crashed when its worker took it (Pending) and it did not start Running "
            f"within {seconds} s: its process, container or pod never started."
        ),
        message=(
            f"Pending for {seconds} s without starting: its worker took it, but its process, container "
            "or pod never ran it. It did none of its work; a parent submits it again."
        ),
    )


def _silence_automation(
    name: str, after: set[str], expect: set[str], within: timedelta, why: str, message: str
) -> AutomationCore:
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    return AutomationCore(
        name=name,
        description=why,
        trigger=EventTrigger(
            after=after,
            expect=expect,
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=within,
        ),
        actions=[ChangeFlowRunState(state=StateType.CRASHED, message=message)],
    )


def automations() -> list[AutomationCore]:
    """What `up` keeps on the server so that no run waits forever."""
    return [crash_automation(), start_automation()]


def ensure_automations(client: SyncPrefectClient) -> list[str]:
    """Create each automation, or replace one whose definition differs; the names of those (re)made."""
    return [wanted.name for wanted in automations() if ensure_automation(client, wanted)]


def ensure_automation(client: SyncPrefectClient, wanted: AutomationCore) -> bool:
    """Create the automation, or replace one whose definition differs; True when it was (re)made."""
    existing = client.read_automations_by_name(wanted.name)
    same = [a for a in existing if same_definition(a, wanted)]
    if same and len(existing) == 1:
        return False
    for automation in existing:
        client.delete_automation(automation.id)
    client.create_automation(wanted)
    return True


def same_definition(one: AutomationCore, other: AutomationCore) -> bool:
    """Whether two automations trigger and act alike, compared as Python values: the trigger's event
    names are sets, and two equal sets need not list their members in the same order."""
    fields = {"trigger", "actions", "enabled"}
    return one.model_dump(include=fields) == other.model_dump(include=fields)


def leased_slots(lease_dir: Path) -> dict[str, int]:
    """Slots per concurrency limit id that the leases on disk hold (expired ones included: the server
    revokes those itself, which frees their slots)."""
    from prefect.server.concurrency.lease_storage.filesystem import ConcurrencyLeaseStorage

    storage = ConcurrencyLeaseStorage(storage_path=lease_dir)
    ids = []
    for path in lease_dir.glob("*.json") if lease_dir.is_dir() else []:
        try:
            ids.append(uuid.UUID(path.stem))
        except ValueError:  # expirations.json, the storage's index
            continue

    async def read_all() -> list[ResourceLease[ConcurrencyLimitLeaseMetadata] | None]:
        return [await storage.read_lease(lease_id) for lease_id in ids]

    held: dict[str, int] = {}
    for lease in asyncio.run(read_all()):
        if lease is None or lease.metadata is None:
            continue
        for limit_id in lease.resource_ids:
            held[str(limit_id)] = held.get(str(limit_id), 0) + lease.metadata.slots
    return held


def repair_slots(client: SyncPrefectClient, lease_dir: Path) -> list[str]:
    """Set every global concurrency limit's active slots back to what leases account for; say which."""
    from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate

    held = leased_slots(lease_dir)
    repaired = []
    for limit in client.read_global_concurrency_limits(limit=200):
        backed = held.get(str(limit.id), 0)
        if limit.active_slots > backed:
            client.update_global_concurrency_limit(
                limit.name, GlobalConcurrencyLimitUpdate(active_slots=backed)
            )
            repaired.append(f"{limit.name}: {limit.active_slots} slot(s) taken, {backed} held by a lease")
    return repaired
