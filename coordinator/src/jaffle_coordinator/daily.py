"""The daily parent's run (`data-platform`): every child in the order of the datasets' graph.

A child starts as soon as the children it reads from have completed; a child whose producer did not
complete is not started, and the children that do not need it go on. Whatever ends the run, `summary.py`
cancels what is still going and records every child.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from datetime import date
from typing import Any

from jaffle_contract import deployments
from prefect import get_run_logger
from prefect.client.schemas.objects import FlowRun

from jaffle_coordinator import alerts, children, plan, summary
from jaffle_coordinator.settings import SETTINGS


@dataclasses.dataclass
class _Graph:
    """What one run of the graph shares between its children: each child's end (True when it completed),
    the failures by child, and the caller's `launched` and `blocked`, which the summary reads."""

    window: plan.Window
    forget: set[str]
    earlier: dict[str, list[FlowRun]]
    launched: list[children.Launched]
    blocked: dict[str, str]
    ended: dict[str, asyncio.Future[bool]]
    logger: logging.Logger | logging.LoggerAdapter[logging.Logger]
    failures: dict[str, list[tuple[str, str, str, str]]] = dataclasses.field(default_factory=dict)
    ingest_from: dict[str, str] = dataclasses.field(default_factory=dict)

    def parameters(self, child: plan.Child) -> dict[str, Any]:
        """A child's parameters: the window, and for an ingestion child whose source the run chose a
        landing for, that choice (the others land from their flow's own default)."""
        chosen = {deployments.INGESTED[source]: kind for source, kind in self.ingest_from.items()}
        kind = chosen.get(child.name)
        return {**self.window.parameters(), **({"ingest_from": kind} if kind else {})}


async def run_graph(
    window: plan.Window,
    forget: set[str],
    earlier: dict[str, list[FlowRun]],
    launched: list[children.Launched],
    blocked: dict[str, str],
    ingest_from: dict[str, str] | None = None,
) -> None:
    """Run every child as soon as the children it reads from have completed; raise ChildRunFailed
    naming every child that failed once nothing else can run. A child whose producer did not complete
    is not started (`blocked` says which producer); the children that do not need it go on. Anything
    else (a wait that timed out, the API gone, a cancellation) ends the run at once."""
    loop = asyncio.get_running_loop()
    ended = {child.name: loop.create_future() for child in plan.CHILDREN}
    graph = _Graph(
        window, forget, earlier, launched, blocked, ended, get_run_logger(), ingest_from=ingest_from or {}
    )
    async with asyncio.TaskGroup() as group:
        for child in plan.CHILDREN:
            group.create_task(_run_child(graph, child), name=child.name)
    if graph.failures:  # in the plan's order, whichever ended first
        raise plan.ChildRunFailed(
            [each for name in plan.CHILD_NAMES for each in graph.failures.get(name, [])]
        )


async def _run_child(graph: _Graph, child: plan.Child) -> None:
    """Start one child once its producers have completed, wait for it unless it is fire and forget, and
    settle its end; a child that cannot be started or run fails alone, not the run."""
    ended = graph.ended[child.name]
    if not await _producers_completed(graph, child):
        ended.set_result(False)
        return
    try:
        item = await children.launch(
            child,
            graph.parameters(child),
            f"{child.name} {graph.window}",
            graph.earlier.get(child.name, []),
        )
    except plan.ChildRunFailed as refused:  # not deployed: a failure of this child, not of the run
        graph.failures[child.name] = refused.failures
        for _, run_name, state, message in refused.failures:
            alerts.child_failed(child, run_name, "", state, message)
        ended.set_result(False)
        return
    graph.launched.append(item)
    graph.logger.info("%s %s: %s", item.how.capitalize(), item.run.name, children.ui_link(item.run))
    if child.name in graph.forget:
        graph.logger.info("Not waiting for %s (fire and forget)", item.run.name)
        ended.set_result(True)
        return
    ended.set_result(await _completed(graph, child, item))


async def _producers_completed(graph: _Graph, child: plan.Child) -> bool:
    """Wait for every producer at once: the first that did not complete settles it (asyncio.wait leaves
    the shared futures alone when this task is cancelled), and `blocked` names it."""
    waiting = {graph.ended[producer]: producer for producer in child.producers}
    while waiting:
        done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        for future in sorted(done, key=lambda f: waiting[f]):
            producer = waiting.pop(future)
            if not future.result():
                graph.blocked[child.name] = producer
                graph.logger.info("Not starting %s: %s did not complete", child.name, producer)
                return False
    return True


async def _completed(graph: _Graph, child: plan.Child, item: children.Launched) -> bool:
    """Wait for a started child; whether it completed (if not, its failure is recorded)."""
    try:
        await children.wait_resubmitting(
            item,
            graph.parameters(child),
            graph.earlier.get(child.name, []),
            SETTINGS.child_timeout_seconds,
            SETTINGS.wait_slice_seconds,
            SETTINGS.server_unreachable_seconds,
        )
    except plan.ChildRunFailed as refused:  # its resubmission was refused (no deployment any more)
        graph.failures[child.name] = refused.failures
        for _, run_name, state, message in refused.failures:
            alerts.child_failed(child, run_name, children.ui_link(item.run), state, message)
        return False
    found = children.failure(item)
    if found:  # final: a daily parent does not retry a child (a resumed parent is a new attempt)
        graph.failures[child.name] = [found]
        _, run_name, state, message = found
        alerts.child_failed(child, run_name, children.ui_link(item.run), state, message)
    return found is None


async def run(
    start_date: date | None,
    end_date: date | None,
    fire_and_forget: list[str] | None,
    ingest_from: dict[str, str] | None = None,
) -> dict[str, object]:
    """The daily parent's body: run the graph for the window, then (on any way out) the summary."""
    window = plan.resolve_window(start_date, end_date)
    forget = plan.check_fire_and_forget(fire_and_forget or [])
    sent = alerts.collect()
    earlier = await children.earlier_children()
    launched: list[children.Launched] = []
    blocked: dict[str, str] = {}
    error: BaseException | None = None
    try:
        await run_graph(window, forget, earlier, launched, blocked, ingest_from)
    except BaseException as exc:
        # a TaskGroup raises its children's errors as a group: the first one is what ended the run
        error = _first(exc)
        if error is exc:
            raise
        raise error from None
    finally:
        alerts.parent_ended(error)
        await summary.finish(window, launched, list(plan.CHILD_NAMES), error, blocked, forget, sent)
    return {
        "window": str(window),
        "children": {i.run.name: i.run.state.name for i in launched if i.run.state},
        "reused": [i.run.name for i in launched if i.reused],
    }


def _first(error: BaseException) -> BaseException:
    """The first error of an exception group (nested ones too), or the error itself."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return error
