"""The warm launcher: flow runs of a team forked from a process that has already imported Prefect and
the team's flow code, inside the team's own environment.

    python -m jaffle_runtime.launcher supervise --socket PATH --package DIR   # one per team (`up`)
    python -m jaffle_runtime.launcher serve --socket PATH --package DIR       # the warm parent itself
    python -m jaffle_runtime.launcher run                                     # the process pool's command

A process worker starts `run` for each flow run, exactly where it would start `python -m
prefect.engine`: same environment, working folder and pid to signal. `run` imports nothing but the
standard library; it hands its standard streams, environment and folder to the team's warm parent
over a Unix socket (`JAFFLE_WARM_SOCKET`), which forks a child that runs Prefect's engine entry point
with them. `run` forwards the worker's signals (Cancel is a SIGTERM) to that child and exits as it
did, by the same signal when it was killed, so the worker reports a killed run Crashed just as it
does for a stock one. When the warm parent is not there (not started, reloading, refused), `run`
becomes `python -m prefect.engine` in place: a run never waits on, or fails for, the launcher.

The warm parent makes Prefect's settings and logging for a run's environment before it forks (once per
distinct set of PREFECT_ variables and settings files in the run's folder), so a forked run starts with
them made; and it imports the installed libraries its runs imported lazily (a dbt adapter: each run
writes their names when it ends), so the runs after it find them imported. It forks only with no other
thread alive, Python's or native (a library's pool that makes itself ready for a fork aside: OpenBLAS,
jemalloc), and no event loop running (checked before every fork: `forksafety`).

When the team's code or environment changes (any file of its package, the environment, the Python files
of the libraries on its path), the first run after it starts cold and a new parent starts beside the old
one. It takes the socket over once it has imported the new code, and the old one drains its running runs
and ends. If the new one's import fails, the old one serves on (every run starting cold, never with the
old code) and says why.

`supervise` keeps a warm parent running: one that dies (killed, out of memory) is started again, with a
growing pause while it keeps failing, and its socket is removed meanwhile so runs start cold rather than
knock on a dead one. A run whose warm parent died under it ends Crashed with a message naming that
parent. It also starts the new parent a stale one asks for.

This module is the pool's command and the entry point; `run` needs the standard library only. The rest:
`protocol` (the socket's messages), `parent` (`serve`), `freshness` (what makes a parent stale or a run
cold), `forksafety` (whether it may fork), `warmup` (what a parent makes ready), `forked` (a run in its
forked process) and `supervisor`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import signal
import socket
import struct
import sys
from pathlib import Path

from jaffle_runtime import protocol

SOCKET_ENV = "JAFFLE_WARM_SOCKET"
COMMAND = "python -m jaffle_runtime.launcher run"
# How long a run waits for a warm parent that is running but has not answered (stuck in an import, on a
# slow filesystem) before it starts cold. A parent that is stopped or gone is seen within a second. A
# healthy parent answers within a second; on a machine whose cores are all busy, importing what runs
# imported can hold it for many, and a cold start there costs far more than the usual ten.
HANDSHAKE_ENV = "JAFFLE_WARM_HANDSHAKE_SECONDS"
HANDSHAKE_SECONDS = 120.0


def _cold(reason: str) -> None:
    """Become `python -m prefect.engine` (same pid: the worker's signals still reach the run)."""
    protocol.log(f"{reason}; starting this run cold")
    os.execv(sys.executable, [sys.executable, "-m", "prefect.engine", *sys.argv[2:]])


def run() -> None:
    path = os.environ.get(SOCKET_ENV)
    if not path:
        _cold(f"{SOCKET_ENV} is not set")
        return
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    handshake = float(os.environ.get(HANDSHAKE_ENV) or HANDSHAKE_SECONDS)
    conn.settimeout(handshake)  # connect and send; the answer is awaited below; the run has no bound
    try:
        conn.connect(path)
        request = json.dumps({"env": dict(os.environ), "cwd": os.getcwd(), "argv": sys.argv[2:]}).encode()
        socket.send_fds(conn, [protocol.HEADER.pack(len(request)) + request], list(protocol.STREAMS))
        conn.settimeout(None)
        waited = _await_answer(conn, handshake)
        if waited:
            conn.close()  # the parent sees this run's client gone and does not fork for it
            _cold(f"the warm parent at {path} {waited}")
            return
        reader = conn.makefile("r", encoding="utf-8")
        first = reader.readline().split()
    except TimeoutError:
        conn.close()
        _cold(f"the warm parent at {path} did not take the run within {handshake:g} s")
        return
    except OSError as error:
        conn.close()
        _cold(f"no warm parent at {path} ({error.strerror or error})")
        return
    if first[:1] != ["pid"]:
        conn.close()
        _cold(f"the warm parent answered {' '.join(first) or 'nothing'}")
        return
    child = int(first[1])

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signum)

    for forwarded in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(forwarded, forward)
    last = reader.readline().split()
    if last[:1] == ["signal"]:  # die as the run did, so the worker reports it as it would a stock run
        killed_by = int(last[1])
        if killed_by not in (signal.SIGKILL, signal.SIGSTOP):  # these two cannot be caught anyway
            signal.signal(killed_by, signal.SIG_DFL)
        os.kill(os.getpid(), killed_by)
    if last[:1] == ["exit"]:
        sys.exit(int(last[1]))
    # The warm parent went away mid-run: end the run rather than leave it unwatched, and say why.
    forward(signal.SIGKILL, None)
    message = f"the team's warm parent (at {path}) ended during this run, which was stopped with it"
    protocol.log(message)
    _report_crashed(message)
    sys.exit(70)


def _report_crashed(message: str) -> None:
    """Mark this run Crashed with `message` (the worker's own report only has an exit status). Best
    effort, bounded: the worker still reports the run as it would any that exited so."""
    import subprocess

    script = (
        "import os, sys\n"
        "from prefect.client.orchestration import get_client\n"
        "from prefect.states import Crashed\n"
        "with get_client(sync_client=True) as client:\n"
        "    run, state = os.environ['PREFECT__FLOW_RUN_ID'], Crashed(message=sys.argv[1])\n"
        "    client.set_flow_run_state(run, state, force=True)\n"
    )
    if os.environ.get("PREFECT__FLOW_RUN_ID"):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run([sys.executable, "-c", script, message], timeout=60, check=False)


def _await_answer(conn: socket.socket, bound: float) -> str | None:
    """Wait for the parent's first answer; why not, if it will not come: the parent is stopped or gone
    (seen in its process state within a second), or it has not answered within `bound` seconds. A
    parent that is busy (importing what runs imported, on a machine whose cores are all taken) is
    waited for: a warm start late is still sooner than a cold one."""
    import time

    try:
        (peer,) = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[:1]
    except OSError:
        peer = 0
    deadline = time.monotonic() + bound
    while not select.select([conn], [], [], 1.0)[0]:
        state = _process_state(peer) if peer else "R"
        if state in (None, "Z", "X"):
            return f"(pid {peer}) is gone"
        if state in ("T", "t"):
            return f"(pid {peer}) is stopped"
        if time.monotonic() > deadline:
            return f"did not answer within {bound:g} s"
    return None


def _process_state(pid: int) -> str | None:
    """A process's state letter (R, S, D, T, Z, ...), or None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["run"]:
        run()
        return 0
    parser = argparse.ArgumentParser(prog="python -m jaffle_runtime.launcher")
    sub = parser.add_subparsers(dest="command", required=True)
    for command, helped in (
        ("serve", "the warm parent of one team's flow runs"),
        ("supervise", "a warm parent, started again whenever it ends on its own"),
    ):
        served = sub.add_parser(command, help=helped)
        served.add_argument("--socket", type=Path, required=True)
        served.add_argument("--package", type=Path, required=True)
        served.add_argument(
            "--entrypoint", action="append", help="a flow script to import (default: the prefect.yaml's)"
        )
    sub.add_parser("run", help="start this flow run from the warm parent (the pool's command)")
    parsed = parser.parse_args(args)
    if parsed.command == "supervise":
        from jaffle_runtime.supervisor import supervise

        return supervise(parsed.socket.resolve(), args[1:])
    from jaffle_runtime.parent import serve

    return serve(parsed.socket.resolve(), parsed.package.resolve(), parsed.entrypoint)


if __name__ == "__main__":
    sys.exit(main())
