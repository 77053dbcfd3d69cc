"""A run's life in the process forked from its warm parent: it becomes the run's process (streams,
folder, environment, signals, fresh random seeds) and runs Prefect's engine entry point as `python -m
prefect.engine` would, then exits as an interpreter does, writing which modules it imported."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import Any

from jaffle_runtime import protocol

# The folder the warm parent was started in: `python -m` put it first on sys.path, where a run started
# as `python -m prefect.engine` has its own folder.
STARTED_IN = os.getcwd()


def run_forked(request: dict[str, Any], streams: list[int], inherited: list[Any], imports: Path) -> None:
    """In the forked child: become the run's process and run Prefect's engine entry point; at its end,
    write to `imports` the modules the run imported that the parent had not."""
    code = 1
    before = set(sys.modules)
    try:
        signal.set_wakeup_fd(-1)
        for held in inherited:  # the parent's sockets: another run's client must see its parent go
            held.close()
        for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)  # KeyboardInterrupt, as in any interpreter
        die_with_parent()
        reseed()
        forget_event_loop()
        for target, fd in zip(protocol.STREAMS, streams, strict=True):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        if sys.path[:1] == [STARTED_IN]:
            sys.path[0] = request["cwd"]
        os.environ.clear()
        os.environ.update(request["env"])
        import time

        time.tzset()  # the run's TZ, not the parent's
        sys.argv = ["prefect.engine", *request["argv"]]
        import runpy

        sys.modules.pop("prefect.engine", None)  # executed afresh as __main__, as `-m` would
        try:
            runpy.run_module("prefect.engine", run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        try:
            import atexit
            import threading

            # What an interpreter's exit runs, in its order: the threads' exit hooks (Prefect drains
            # its event and log queues there), then the atexit functions.
            threading._shutdown()  # type: ignore[attr-defined]
            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
            write_atomically(imports, "\n".join(sorted(set(sys.modules) - before)))
        finally:
            os._exit(code)


def reseed() -> None:
    """A forked run starts with a copy of the parent's random generators: every run would draw the same
    numbers. Each is seeded afresh from the OS, as a new interpreter's are (uuid4 and secrets read the
    OS already). The hash seed is fixed when an interpreter starts and cannot be changed."""
    import random

    random.seed()
    if numpy_random := sys.modules.get("numpy.random"):
        numpy_random.seed()
    if faker_generator := sys.modules.get("faker.generator"):
        faker_generator.random.seed()


def forget_event_loop() -> None:
    """No event loop set or running, as in a new interpreter: what asyncio's own at-fork hook does in
    every forked child from Python 3.12 on, done here for 3.11 (whose asyncio has no such hook)."""
    asyncio = sys.modules.get("asyncio")
    if asyncio is None or sys.version_info >= (3, 12):
        return
    events = asyncio.events
    if events._event_loop_policy is not None:
        events._event_loop_policy._local = events.BaseDefaultEventLoopPolicy._Local()
    events._set_running_loop(None)


def die_with_parent() -> None:
    """PR_SET_PDEATHSIG: a run does not outlive a warm parent that was killed."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def write_atomically(path: Path, text: str) -> None:
    with contextlib.suppress(OSError):
        partial = path.with_name(path.name + ".partial")
        partial.write_text(text)
        partial.replace(path)
