"""Child runs of a parent flow: start or reuse, wait without hanging, cancel on the way out.

A parent that is retried (Prefect's Retry button, or `./dev run --resume RUN_ID`) runs again under the
same flow run id, so it finds the children it started before by their tags: a child that completed is
reused, a child still running is waited on again, and only the others start a new attempt. Every
attempt carries an idempotency key (parent run, child, window, attempt), so a create the client
repeats after a lost answer returns the same run instead of a second one.

A child that Crashed before it ever ran (its worker could not submit it: the server busy, the
infrastructure refusing it) did none of its work, so it is submitted again, up to `SUBMIT_RETRIES`
times, a few seconds apart; a child that crashed while running is left to the parent's retry.

Waiting listens for the child's terminal event (`wait_for_flow_run`) in slices of `poll_seconds`, and
each slice starts by reading the child's state, so an event lost while the server restarted costs at
most one slice. A server that stays unreachable for `unreachable_seconds` ends the wait with a clear
error instead of a hang; a child that has not finished by its deadline is a failure too.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from prefect import get_run_logger
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
from prefect.client.schemas.objects import FlowRun
from prefect.context import FlowRunContext
from prefect.deployments import arun_deployment
from prefect.exceptions import FlowRunWaitTimeout, ObjectNotFound
from prefect.flow_runs import wait_for_flow_run
from prefect.settings import PREFECT_UI_URL
from prefect.states import Cancelled, Cancelling

from jaffle_coordinator import plan

SUBMIT_RETRIES = 2
SUBMIT_RETRY_SECONDS = 5.0
PARENT_TAG = "parent:"  # then the parent's flow run id: see `parent_tag`
BACKFILL_TAG = "backfill"  # a backfill's cells (which also carry their parent's tag)


class ChildTimedOut(RuntimeError):
    """A child run did not reach a terminal state within the parent's wait for it."""


class ServerUnreachable(RuntimeError):
    """The Prefect API could not be reached for longer than the parent tolerates."""


@dataclass
class Launched:
    """A child run of this parent, and how this attempt of the parent came by it."""

    child: plan.Child
    run: FlowRun
    how: str  # "run", "rerun (attempt N)", "reused: completed earlier", "resumed: still running"

    @property
    def reused(self) -> bool:
        return self.how.startswith("reused")


def parent_id() -> str:
    """The id of the flow run calling this: the parent."""
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        raise RuntimeError("children are started from inside a parent flow run")
    return str(context.flow_run.id)


def parent_tag() -> str:
    """Children carry their parent's id as a tag, so `./dev run` can follow them and a retry find them."""
    return f"{PARENT_TAG}{parent_id()}"


def child_tag(child: plan.Child) -> str:
    return f"child:{child.name}"


def ui_link(flow_run: FlowRun) -> str:
    base = PREFECT_UI_URL.value()
    return f"{base}/runs/flow-run/{flow_run.id}" if base else str(flow_run.id)


async def earlier_children() -> dict[str, list[FlowRun]]:
    """The child runs earlier attempts of this parent started, by child name, oldest first."""
    async with get_client() as client:
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[parent_tag()]))
        )
    found: dict[str, list[FlowRun]] = {}
    for run in sorted(runs, key=lambda r: r.created.timestamp() if r.created else 0.0):
        for tag in run.tags:
            if tag.startswith("child:"):
                found.setdefault(tag.removeprefix("child:"), []).append(run)
    return found


async def launch(
    child: plan.Child,
    parameters: dict[str, Any],
    run_name: str,
    earlier: list[FlowRun],
    extra_tags: tuple[str, ...] = (),
) -> Launched:
    """Reuse this child's run from an earlier attempt when it completed (or is still going); else start
    a new attempt and return at once (timeout=0): its worker picks it up."""
    for run in reversed(earlier):
        if run.state and run.state.is_completed():
            return Launched(child, run, "reused: completed earlier")
        if run.state and not run.state.is_final():
            return Launched(child, run, "resumed: still running")
    attempt = len(earlier) + 1
    try:
        run = await arun_deployment(
            child.deployment,
            parameters=parameters,
            flow_run_name=run_name,
            timeout=0,
            tags=[parent_tag(), child_tag(child), "platform", *extra_tags],
            idempotency_key=f"{parent_id()}:{child.name}:{parameters_key(parameters)}:{attempt}",
        )
    except ObjectNotFound:
        raise plan.ChildRunFailed(
            [(child.deployment, run_name, "NotDeployed", "no such deployment: deploy its team's package")]
        ) from None
    return Launched(child, run, "run" if attempt == 1 else f"rerun (attempt {attempt})")


def never_ran(run: FlowRun) -> bool:
    """Crashed without ever Running: its worker could not submit it, so none of its work was done."""
    return bool(run.state and run.state.is_crashed() and run.run_count == 0)  # counts Running entries


async def wait_resubmitting(
    item: Launched,
    parameters: dict[str, Any],
    earlier: list[FlowRun],
    timeout: float,
    poll_seconds: float,
    unreachable_seconds: float,
    extra_tags: tuple[str, ...] = (),
) -> FlowRun:
    """`wait`, and a child that crashed before it ran submitted again (`SUBMIT_RETRIES` times at most);
    `item` ends holding the last attempt."""
    run = await wait(item.run, timeout, poll_seconds, unreachable_seconds)
    tried = [*earlier, run]
    for _ in range(SUBMIT_RETRIES):
        if not never_ran(run):
            break
        message = run.state.message if run.state else ""
        get_run_logger().warning("%s crashed before it ran (%s); submitting it again", run.name, message)
        await asyncio.sleep(SUBMIT_RETRY_SECONDS)
        again = await launch(item.child, parameters, run.name, tried, extra_tags)
        item.run, item.how = again.run, again.how
        run = await wait(again.run, timeout, poll_seconds, unreachable_seconds)
        tried.append(run)
    item.run = run
    return run


def parameters_key(parameters: dict[str, Any]) -> str:
    return ",".join(f"{k}={parameters[k]}" for k in sorted(parameters))


async def wait(run: FlowRun, timeout: float, poll_seconds: float, unreachable_seconds: float) -> FlowRun:
    """The child's run in a terminal state; ChildTimedOut or ServerUnreachable instead of a hang."""
    deadline = time.monotonic() + timeout
    lost_since: float | None = None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ChildTimedOut(f"child run '{run.name}' did not finish within {timeout:.0f} s")
        try:
            found: FlowRun = await wait_for_flow_run(
                run.id, timeout=max(1, int(min(poll_seconds, remaining)))
            )
        except FlowRunWaitTimeout:
            lost_since = None
            continue
        except Exception as error:  # the API or its event stream is gone: tolerate a restart
            lost_since = lost_since or time.monotonic()
            if time.monotonic() - lost_since > unreachable_seconds:
                raise ServerUnreachable(
                    f"the Prefect API was unreachable for over {unreachable_seconds:.0f} s while waiting "
                    f"for child run '{run.name}' ({type(error).__name__}: {error})"
                ) from error
            get_run_logger().warning(
                "Lost the Prefect API while waiting for %s (%s); retrying", run.name, type(error).__name__
            )
            await asyncio.sleep(min(5.0, poll_seconds))
            continue
        # Prefect returns on a terminal-state event, then reads the run: a run that reads as not
        # finished after all is waited on, never taken for ended.
        if found.state is not None and found.state.is_final():
            return found
        lost_since = None
        await asyncio.sleep(min(1.0, poll_seconds))


async def cancel_unfinished(launched: list[Launched]) -> list[str]:
    """Cancel the children this parent started that have not finished; return their names.

    A run a worker already started goes to Cancelling (the worker stops its process and marks it
    Cancelled); one no worker has picked up yet is Cancelled at once."""
    cancelled = []
    async with get_client() as client:
        for item in launched:
            try:
                run = await client.read_flow_run(item.run.id)
                if run.state is None or run.state.is_final():
                    continue
                started = run.state.is_running() or run.state.is_cancelling()
                state = Cancelling if started else Cancelled
                await client.set_flow_run_state(
                    run.id, state(message="its parent ended before it did"), force=True
                )
                cancelled.append(run.name)
            except Exception as error:  # best effort: the parent is already on its way out
                get_run_logger().warning("Could not cancel %s: %s", item.run.name, error)
    return cancelled


async def refresh(launched: list[Launched]) -> list[Launched]:
    """The same children with their latest states (best effort: the last known state otherwise)."""
    out = []
    try:
        async with get_client() as client:
            for item in launched:
                out.append(Launched(item.child, await client.read_flow_run(item.run.id), item.how))
    except Exception:
        return launched
    return out


def failure(item: Launched) -> tuple[str, str, str, str] | None:
    """How a child's run did not complete (its deployment, run, state and message), or None if it did."""
    state = item.run.state
    if state and state.is_completed():
        return None
    name = (state.name if state else None) or "Unknown"
    return (item.child.deployment, item.run.name, name, (state.message if state else None) or "")
