"""`supervise`: keeps one team's warm parent running.

- A parent that ends on its own (killed, out of memory) is started again, with a growing pause while it
  keeps failing; its socket is removed meanwhile, so runs start cold rather than knock on a dead parent.
- A parent that may fork no more (its team's code changed) asks for a new one with SIGUSR1. The new one
  starts beside it and says on a pipe when it has taken the socket over; the old one then drains its
  runs and ends. A new one that ends before it is ready (its import failed) is logged, and the old one
  serves on: nothing is started again until it asks again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from jaffle_runtime import protocol, warmup
from jaffle_runtime.parent import READY_FD_ENV

# A parent that lived this long before it ended was not failing to start: the pause starts over.
HEALTHY_SECONDS = 60.0
PAUSE_CAP_SECONDS = 60.0


@dataclass
class Parent:
    process: subprocess.Popen[bytes]
    ready_pipe: int  # read end; "ready" arrives once the parent has taken the socket
    began: float = field(default_factory=time.monotonic)
    ready: bool = False
    replaced: bool = False  # a newer parent took the socket over: this one drains and ends


class Supervisor:
    def __init__(self, socket_path: Path, serve_args: list[str]) -> None:
        self.socket_path, self.serve_args = socket_path, serve_args
        self.parents: list[Parent] = []  # in the order they were started
        self.stopping: list[int] = []
        self.asked: list[int] = []
        self.pause, self.restart_at = 0.0, 0.0
        warmup.unlearnable(socket_path).unlink(missing_ok=True)  # a fresh start learns again

    def serving(self) -> Parent | None:
        """The parent the socket is of: the one that took it over last."""
        return next((p for p in self.parents if p.ready and not p.replaced), None)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        signal.signal(signal.SIGUSR1, lambda *_: self.asked.append(1))
        while not self.stopping:
            starting = any(not p.ready for p in self.parents)
            if self.asked:
                self.asked.clear()
                if not starting:  # a request while one starts already is answered by it
                    self._start()
            elif not starting and self.serving() is None and time.monotonic() >= self.restart_at:
                self._start()
            time.sleep(0.1)
            self._read_ready()
            self._reap()
        for parent in self.parents:
            parent.process.wait()
        return 0

    def _stop(self, signum: int, _frame: object) -> None:
        self.stopping.append(signum)
        for parent in self.parents:
            if parent.process.poll() is None:
                parent.process.send_signal(signum)

    def _start(self) -> None:
        read, write = os.pipe()
        os.set_blocking(read, False)
        command = [sys.executable, "-m", "jaffle_runtime.launcher", "serve", *self.serve_args]
        env = {**os.environ, READY_FD_ENV: str(write)}
        process = subprocess.Popen(command, env=env, pass_fds=[write])
        os.close(write)
        self.parents.append(Parent(process, read))

    def _read_ready(self) -> None:
        for parent in self.parents:
            if parent.ready:
                continue
            try:
                said = os.read(parent.ready_pipe, 64)
            except BlockingIOError:
                continue
            if said.startswith(b"ready"):
                before = self.serving()
                parent.ready = True
                if before is not None:
                    before.replaced = True
                    pids = (parent.process.pid, before.process.pid)
                    protocol.log("the warm parent (pid {}) took over from pid {}".format(*pids))

    def _reap(self) -> None:
        serving = self.serving()
        for parent in [p for p in self.parents if p.process.poll() is not None]:
            self.parents.remove(parent)
            os.close(parent.ready_pipe)
            code = parent.process.returncode
            if self.stopping or (parent.replaced and code == 0):
                continue  # stopped, or replaced and drained
            how = f"signal {-code}" if code < 0 else f"exit {code}"
            if not parent.ready and serving is not None and serving.process.poll() is None:
                protocol.log(
                    f"the new warm parent (pid {parent.process.pid}) ended before it was ready ({how}); "
                    f"pid {serving.process.pid} serves on, starting runs cold until a new one is ready"
                )
                continue
            if parent is serving:  # runs start cold, rather than knock on a dead parent
                self.socket_path.unlink(missing_ok=True)
            lived = time.monotonic() - parent.began
            self.pause = 1.0 if lived > HEALTHY_SECONDS else min(max(self.pause, 0.5) * 2, PAUSE_CAP_SECONDS)
            self.restart_at = time.monotonic() + self.pause
            protocol.log(
                f"the warm parent (pid {parent.process.pid}) ended ({how}); starting it again in "
                f"{self.pause:g} s"
            )


def supervise(socket_path: Path, serve_args: list[str]) -> int:
    """Run `serve` with `serve_args` and start it again whenever it ends on its own; SIGTERM or SIGINT
    are passed on to it, and end this once it has drained."""
    return Supervisor(socket_path, serve_args).run()
