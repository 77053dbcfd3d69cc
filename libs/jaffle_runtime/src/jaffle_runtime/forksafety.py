"""Whether the warm parent may fork: one thread of its own and no event loop running.

`os.fork()` copies only the calling thread. A lock another thread held at that moment stays held in the
child forever, so a fork beside a live thread can hang the run it starts. Python's threads are counted
by `threading`; native threads (a library's thread pool, an allocator's background thread) only by the
kernel, in /proc/self/task. A native thread is allowed only where its library is known to make itself
ready for a fork (with `pthread_atfork` handlers that stop or reset it): the pools below. Any other
thread makes the parent unsafe to fork, and the run starts cold.
"""

from __future__ import annotations

import ctypes
import os
import threading
from pathlib import Path

TASKS = Path("/proc/self/task")

# Named native threads whose libraries stop them before a fork and start them again after it in each
# process that needs them (their pthread_atfork handlers).
FORK_READY_NAMES = {
    # jemalloc's background purging thread, started by the jemalloc pyarrow bundles (libarrow): jemalloc
    # takes its locks before a fork and marks its background threads stopped in the child.
    "jemalloc_bg_thd": "jemalloc (pyarrow)",
}

# OpenBLAS (numpy's, scipy's) starts num_threads - 1 unnamed worker threads when it loads, and stops them
# before a fork (blas_thread_shutdown, registered with pthread_atfork); a child starts its own on its first
# call. Its "get number of threads" function, under the names the builds numpy and scipy ship export.
OPENBLAS_GET_THREADS = (
    "openblas_get_num_threads",
    "openblas_get_num_threads64_",
    "scipy_openblas_get_num_threads",
    "scipy_openblas_get_num_threads64_",
)


def unsafe_to_fork() -> str | None:
    """Why this process may not fork now, or None when it may."""
    import asyncio

    if threading.active_count() != 1:
        return f"{threading.active_count()} threads alive: {[t.name for t in threading.enumerate()]}"
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        return "an event loop is running"
    others = native_threads()
    if not others:
        return None
    unnamed = [name for name in others if name is None]
    named = sorted({name for name in others if name is not None and name not in FORK_READY_NAMES})
    allowed = openblas_workers()
    if not named and len(unnamed) <= allowed:
        return None
    described = [*named, *([f"{len(unnamed)} unnamed"] if len(unnamed) > allowed else [])]
    return f"native threads alive beside the main thread: {', '.join(described)}"


def native_threads() -> list[str | None]:
    """The name of every thread of this process but the calling one (None for a thread that was never
    named: its name is the process's). Empty where the kernel does not list them (not Linux)."""
    try:
        tasks = os.listdir(TASKS)
    except OSError:
        return []
    own = str(threading.get_native_id())
    process_name = _name(TASKS / own)
    names: list[str | None] = []
    for task in tasks:
        if task == own:
            continue
        name = _name(TASKS / task)
        if name is not None:  # None: it ended while being read
            names.append(None if name == process_name else name)
    return names


def _name(task: Path) -> str | None:
    try:
        return (task / "comm").read_text().strip()
    except OSError:
        return None


def openblas_workers() -> int:
    """How many worker threads the OpenBLAS libraries loaded in this process run (0 when none is)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return 0
    loaded = {line.split()[-1] for line in maps.splitlines() if "openblas" in line.rsplit("/", 1)[-1]}
    return sum(max(_openblas_threads(path) - 1, 0) for path in sorted(loaded))


def _openblas_threads(path: str) -> int:
    """The thread count of the OpenBLAS loaded from `path` (already loaded: dlopen only finds it)."""
    try:
        library = ctypes.CDLL(path, mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
    except OSError:
        return 0
    for symbol in OPENBLAS_GET_THREADS:
        function = getattr(library, symbol, None)
        if function is not None:
            function.restype = ctypes.c_int
            return int(function())
    return 0
