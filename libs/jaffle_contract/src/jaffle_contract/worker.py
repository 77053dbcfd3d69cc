"""Prefect's process worker, prompt: it also looks for work the moment a run is scheduled in its pool.

    python -m jaffle_contract.worker --pool POOL --name NAME      # in the team's environment

A stock worker finds new runs by polling (PREFECT_WORKER_QUERY_SECONDS, 10 s by default), so a child
started by the parent waits half a poll on average before anything happens. This worker subscribes to
the server's `prefect.flow-run.Scheduled` events and polls at once when one names its pool; the poll
loop stays, as the safety net for an event missed while the server restarts. Everything else (claiming
a run, the command it starts, cancellation, heartbeats) is Prefect's process worker as it ships.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import warnings
from collections.abc import Callable
from typing import Any

import anyio
from prefect.events import Event
from prefect.events.clients import get_events_subscriber
from prefect.events.filters import EventFilter, EventNameFilter
from prefect.logging import get_logger
from prefect.logging.configuration import setup_logging
from prefect.workers.process import ProcessWorker

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


class PromptProcessWorker(ProcessWorker):
    """Prefect's process worker that also polls on every Scheduled event of its pool."""

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


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM ends the worker as Ctrl-C does: its loops stop, its client closes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jaffle_contract.worker", description=__doc__)
    parser.add_argument("--pool", required=True, help="the process work pool to serve")
    parser.add_argument("--name", required=True, help="the worker's name in the pool")
    args = parser.parse_args(argv)
    worker: dict[str, Any] = {"work_pool_name": args.pool, "name": args.name}
    setup_logging()  # as `prefect worker start` does: the worker's lines reach its log and the run's logs
    signal.signal(signal.SIGTERM, _interrupt)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(PromptProcessWorker(**worker).start())
    return 0


if __name__ == "__main__":
    sys.exit(main())
