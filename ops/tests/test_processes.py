from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest
from jaffle_ops.errors import PlatformError
from jaffle_ops.processes import Supervisor, alive, port_in_use, wait_until


def test_a_spawned_process_is_tracked_logged_and_stopped_with_its_group(tmp_path):
    supervisor = Supervisor(tmp_path)
    # a child that starts a grandchild: stopping the group must end both
    script = (
        "import subprocess, sys, time; print('hello', flush=True); "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"
    )
    pid = supervisor.spawn("sleeper", [sys.executable, "-c", script], tmp_path, {"PATH": "/usr/bin:/bin"})
    wait_until("log line", lambda: b"hello" in (tmp_path / "logs/sleeper.log").read_bytes(), 10)
    assert supervisor.tracked() == {"sleeper": pid}
    assert supervisor.stop("sleeper", grace=5) == pid
    assert supervisor.tracked() == {}
    deadline = time.monotonic() + 5
    while _group_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(pid, None) and not _group_alive(pid)


def _group_alive(pgid: int) -> bool:
    """Any process of the group that is not a zombie (no init reaps them in a container)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _ppid, pgrp = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except OSError:
            continue
        if int(pgrp) == pgid and state != "Z":
            return True
    return False


def test_a_recycled_pid_is_not_taken_for_the_process_we_started(tmp_path):
    supervisor = Supervisor(tmp_path)
    supervisor.pids.mkdir(parents=True)
    # our own pid, but with another start time: a process we did not start
    record = {"pid": os.getpid(), "started": "1", "command": ["x"]}
    (supervisor.pids / "server.json").write_text(json.dumps(record))
    assert supervisor.pid_of("server") is None
    assert supervisor.stop("server") is None  # nothing signalled, record forgotten
    assert not (supervisor.pids / "server.json").exists()


def test_waiting_gives_up_with_the_last_lines_of_the_log(tmp_path):
    log = tmp_path / "w.log"
    log.write_text("\n".join(f"line {i}" for i in range(50)))
    with pytest.raises(PlatformError, match=r"worker not ready after 1s(.|\n)*line 49"):
        wait_until("worker", lambda: False, 1, log)


def test_a_port_nobody_listens_on_is_free():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        assert not port_in_use(s.getsockname()[1])
        s.listen()
        assert port_in_use(s.getsockname()[1])
