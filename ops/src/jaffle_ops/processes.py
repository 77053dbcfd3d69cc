"""Process supervision for the local platform: pid files that guard against recycled pids."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from jaffle_ops.errors import PlatformError


class Supervisor:
    """The processes a platform home started: `pids/<name>.json` and `logs/<name>.log`."""

    def __init__(self, home: Path) -> None:
        self.pids = home / "pids"
        self.logs = home / "logs"

    def pid_of(self, name: str) -> int | None:
        path = self.pids / f"{name}.json"
        if not path.exists():
            return None
        record = json.loads(path.read_text())
        return record["pid"] if alive(record["pid"], record.get("started")) else None

    def spawn(self, name: str, command: list[str], cwd: Path, env: dict[str, str]) -> int:
        self.logs.mkdir(parents=True, exist_ok=True)
        self.pids.mkdir(parents=True, exist_ok=True)
        with open(self.logs / f"{name}.log", "ab") as log:
            process = subprocess.Popen(
                command,
                cwd=cwd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        record = {"pid": process.pid, "started": start_time(process.pid), "command": command}
        (self.pids / f"{name}.json").write_text(json.dumps(record))
        return process.pid

    def tracked(self) -> dict[str, int | None]:
        if not self.pids.exists():
            return {}
        return {p.stem: self.pid_of(p.stem) for p in sorted(self.pids.glob("*.json"))}

    def stop(self, name: str, grace: float = 20) -> int | None:
        """SIGTERM the process group `name` leads, SIGKILL after `grace` seconds; forget it."""
        pid = self.pid_of(name)
        if pid:
            os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + grace
            while self.pid_of(name) and time.monotonic() < deadline:
                time.sleep(0.2)
            if self.pid_of(name):
                os.killpg(pid, signal.SIGKILL)
        (self.pids / f"{name}.json").unlink(missing_ok=True)
        return pid


def start_time(pid: int) -> str | None:
    # The process start time guards against a recycled pid: we only ever signal what we started.
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except OSError:
        return None


def alive(pid: int, started: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    if started is not None and start_time(pid) != started:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_until(what: str, check: Callable[[], bool], timeout: float, log: Path | None = None) -> None:
    """Poll `check` until it holds; past `timeout`, fail with the last lines of `log`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    tail = ""
    if log and log.exists():
        tail = "\n--- last lines of " + str(log) + " ---\n" + "\n".join(log.read_text().splitlines()[-30:])
    raise PlatformError(f"{what} not ready after {timeout:.0f}s{tail}")
