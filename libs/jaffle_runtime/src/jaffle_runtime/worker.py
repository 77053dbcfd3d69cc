"""The team's process worker: Prefect's, prompt when it can be.

    python -m jaffle_runtime.worker --pool POOL --name NAME      # in the team's environment

It serves the pool with the prompt worker (prompt_worker.py: a run is taken on its Scheduled event and
supervised by one shared executor context). That worker builds on a few of Prefect's private modules; if
the installed Prefect moved one, the pool is served by Prefect's own `ProcessWorker` instead, with a
warning that names what failed to load: runs are taken on the worker's poll and start a little slower,
but they start and complete. The pool's command (the warm launcher) is the same either way.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from typing import Any

from prefect.logging import get_logger
from prefect.logging.configuration import setup_logging

logger = get_logger("jaffle.worker")


def worker_class() -> type[Any]:
    """The prompt worker, or Prefect's stock process worker where it cannot load."""
    try:
        from jaffle_runtime.prompt_worker import PromptProcessWorker

        return PromptProcessWorker
    except (ImportError, AttributeError) as missing:
        from importlib.metadata import version

        from prefect.workers.process import ProcessWorker

        logger.warning(
            "the platform's prompt worker cannot load on prefect %s (%s: %s); serving the pool with "
            "Prefect's own process worker: runs start on its poll, slower but complete "
            "(docs/upgrading.md)",
            version("prefect"),
            type(missing).__name__,
            missing,
        )
        return ProcessWorker


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM ends the worker as Ctrl-C does: its loops stop, its client closes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jaffle_runtime.worker", description=__doc__)
    parser.add_argument("--pool", required=True, help="the process work pool to serve")
    parser.add_argument("--name", required=True, help="the worker's name in the pool")
    args = parser.parse_args(argv)
    setup_logging()  # as `prefect worker start` does: the worker's lines reach its log and the run's logs
    chosen = worker_class()
    signal.signal(signal.SIGTERM, _interrupt)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(chosen(work_pool_name=args.pool, name=args.name).start())
    return 0


if __name__ == "__main__":
    sys.exit(main())
