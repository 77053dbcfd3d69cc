"""Prefect's process worker, prompt: it takes a run the moment it is scheduled, and starts it at once.
Started by `python -m jaffle_runtime.worker` (worker.py), which falls back to Prefect's own process
worker when this module cannot load on the installed Prefect.

Two things make a stock process worker slow to start a child, and this subclass changes only them:

- Finding the run. A stock worker polls (PREFECT_WORKER_QUERY_SECONDS, 10 s by default), so a child
  waits half a poll on average. This worker subscribes to the server's `prefect.flow-run.Scheduled`
  events and polls at once when one names its pool; the poll loop stays, as the safety net for an
  event missed while the server restarts.
- Supervising it. For every run, a stock worker opens a new executor context (an API client, an event
  emitter, a control channel and a websocket that watches for cancellation) before it starts the
  process, about a second on a small machine. This worker opens one when it starts and supervises every
  run of a configured command (the warm launcher's) with it, as Prefect's Runner does for all its runs.
  A pool without a command (Prefect's own `python -m prefect.engine`, resolved per run) takes the stock
  path.

Everything else (claiming a run, the command it starts, cancellation, heartbeats, Crashed on a non-zero
exit) is Prefect's process worker as it ships.

Prefect's private names this module uses (a release may move them; then worker.py serves the pool with
the stock worker and names the one that failed), why, and what public API would replace each:

- `prefect.runner._flow_run_executor.FlowRunExecutorContext`, `FlowRunExecutionResult`: the executor
  context a stock worker opens per run, opened once here and shared (no public API: Prefect's Runner
  does the same internally);
- `prefect.runner._process_manager.ProcessHandle`: the handle the shared context supervises a started
  run's process with (no public API);
- `prefect.runner._starter_engine.EngineCommandStarter`: starts a run's configured command as the
  stock worker would (public equivalent: `ProcessWorker.run`, which opens a context per run).

The platform's other uses of Prefect internals are the SQLite server's `MODELS_DEPENDENCIES` patch
(ops/src/jaffle_ops/server.py) and the lease files the slot repair reads (ops/src/jaffle_ops/recovery.py).
"""

from __future__ import annotations

import contextlib
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import anyio
import anyio.abc
from prefect.client.schemas.objects import FlowRun
from prefect.events import Event
from prefect.events.clients import get_events_subscriber
from prefect.events.filters import EventFilter, EventNameFilter
from prefect.flows import load_flow_from_flow_run
from prefect.logging import get_logger
from prefect.runner._flow_run_executor import FlowRunExecutionResult, FlowRunExecutorContext
from prefect.runner._process_manager import ProcessHandle
from prefect.runner._starter_engine import EngineCommandStarter
from prefect.workers.process import ProcessJobConfiguration, ProcessWorker, ProcessWorkerResult

SCHEDULED = "prefect.flow-run.Scheduled"
# A subscription that ends (server restart) is opened again after this many seconds, while the poll
# loop keeps the worker working in between.
RESUBSCRIBE_SECONDS = 2.0

logger = get_logger("jaffle.worker")


def names_pool(event: Event, pool: str) -> bool:
    """Whether a flow-run event concerns a run in `pool` (the server relates runs to their pool)."""
    return any(
        resource.role == "work-pool" and resource.get("prefect.resource.name") == pool
        for resource in event.related
    )


# A worker type registers under its pool type: in an interpreter that imports this module, "process"
# names this subclass, which is Prefect's process worker in every respect but the wake-up.
warnings.filterwarnings("ignore", message="Type 'PromptProcessWorker' .* has key 'process'")


class SharedExecutorContext(FlowRunExecutorContext):
    """The executor context of every run a worker starts with a configured command.

    Its watch for cancellation (a websocket, polling when that drops) gives up after a long enough
    server outage; a per-run context would be new for the next run, a shared one would stay blind.
    So it says when it has given up, and the worker then starts each run with a context of its own
    (Prefect's per-run path) until it is restarted."""

    failed = False

    async def __aenter__(self) -> SharedExecutorContext:
        await super().__aenter__()
        # Prefect cancels a run in a task of this context's task group, which here lives as long as
        # the worker: an error there (the run deleted meanwhile, the API briefly gone) would end the
        # worker and every run in it, where a per-run context would end one run's supervision. Log it.
        unguarded = self._cancellation_manager.cancel_by_id

        async def cancel_by_id(flow_run_id: UUID) -> None:
            try:
                await unguarded(flow_run_id)
            except Exception:
                logger.exception("Could not cancel flow run %s; the worker carries on", flow_run_id)

        self._cancellation_manager.cancel_by_id = cancel_by_id  # type: ignore[method-assign]
        return self

    def _handle_cancellation_observer_failure(self, flow_run_ids: set[Any]) -> None:
        self.failed = True
        logger.warning("The shared watch for cancellation failed; each run now gets its own")
        super()._handle_cancellation_observer_failure(flow_run_ids)


class PromptProcessWorker(ProcessWorker):
    """Prefect's process worker that polls on every Scheduled event of its pool and keeps one executor
    context for the runs of a configured command."""

    _executors: SharedExecutorContext | None = None

    async def __aenter__(self) -> PromptProcessWorker:
        # Entered before the worker's own task group and left after it, so that it outlives every run.
        executors = SharedExecutorContext()
        await executors.__aenter__()
        self._executors = executors
        try:
            await super().__aenter__()
        except BaseException as error:
            self._executors = None
            await executors.__aexit__(type(error), error, error.__traceback__)
            raise
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        try:
            await super().__aexit__(*exc_info)
        finally:
            if self._executors is not None:
                executors, self._executors = self._executors, None
                await executors.__aexit__(*exc_info)

    async def run(
        self,
        flow_run: FlowRun,
        configuration: ProcessJobConfiguration,
        task_status: anyio.abc.TaskStatus[int] | None = None,
    ) -> ProcessWorkerResult:
        if self._executors is None or self._executors.failed or not configuration._command_configured:
            return await super().run(flow_run, configuration, task_status)
        if task_status is None:
            task_status = anyio.TASK_STATUS_IGNORED
        working_dir_ctx = (
            tempfile.TemporaryDirectory(suffix="prefect")
            if not configuration.working_dir
            else contextlib.nullcontext(configuration.working_dir)
        )
        with working_dir_ctx as working_dir:
            starter = EngineCommandStarter(
                command=configuration.command,
                cwd=Path(working_dir).resolve(),
                env=configuration.env,
                stream_output=configuration.stream_output,
                control_channel=self._executors.control_channel,
            )
            # The same for every run of a command: hooks resolve the flow from the run itself.
            executor = self._executors.create_executor(
                flow_run, starter, resolve_flow=load_flow_from_flow_run, propose_submitting=False
            )
            execution: FlowRunExecutionResult | None = None

            async def execute(*, task_status: anyio.abc.TaskStatus[ProcessHandle]) -> None:
                nonlocal execution
                execution = await executor.submit(task_status=task_status)

            async with anyio.create_task_group() as supervising:
                handle = await supervising.start(execute)
                if handle.pid is None:
                    raise RuntimeError("Flow run process has no PID")
                task_status.started(handle.pid)
        if execution is None or execution.status_code is None:
            raise RuntimeError("Failed to start flow run process.")
        return ProcessWorkerResult(status_code=execution.status_code, identifier=str(execution.handle.pid))

    async def start(
        self,
        run_once: bool = False,
        with_healthcheck: bool = False,
        printer: Callable[..., None] = print,
    ) -> None:
        async with anyio.create_task_group() as listening:
            if not run_once:
                listening.start_soon(self._poll_on_schedule)
            await super().start(run_once=run_once, with_healthcheck=with_healthcheck, printer=printer)
            listening.cancel_scope.cancel()

    async def _poll_on_schedule(self) -> None:
        scheduled = EventFilter(event=EventNameFilter(name=[SCHEDULED]))
        while True:
            try:
                async with get_events_subscriber(filter=scheduled) as events:
                    async for event in events:
                        if names_pool(event, self._work_pool_name):
                            await self.get_and_submit_flow_runs()
            except Exception as error:  # the poll loop carries on; so do we, a little later
                logger.debug("Scheduled-event subscription ended (%s); subscribing again", error)
            await anyio.sleep(RESUBSCRIBE_SECONDS)
