"""`supervise`: keeps one team's warm parent running, started again (with a growing pause while it
keeps failing) whenever it ends on its own; its socket is removed meanwhile, so runs start cold rather
than knock on a dead parent."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from jaffle_runtime import protocol


def supervise(socket_path: Path, serve_args: list[str]) -> int:
    """Run `serve` with `serve_args` and start it again whenever it ends on its own; SIGTERM or SIGINT
    are passed on to it, and end this once it has drained."""
    import subprocess
    import time

    stopping: list[int] = []
    child: subprocess.Popen[bytes] | None = None

    def stop(signum: int, _frame: object) -> None:
        stopping.append(signum)
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    pause = 1.0
    while not stopping:
        began = time.monotonic()
        child = subprocess.Popen([sys.executable, "-m", "jaffle_runtime.launcher", "serve", *serve_args])
        code = child.wait()
        if stopping:
            break
        socket_path.unlink(missing_ok=True)  # a killed parent's: runs start cold until the next is ready
        pause = 1.0 if time.monotonic() - began > 60 else min(pause * 2, 60.0)
        how = f"signal {-code}" if code < 0 else f"exit {code}"
        protocol.log(f"the warm parent (pid {child.pid}) ended ({how}); starting it again in {pause:g} s")
        deadline = time.monotonic() + pause
        while not stopping and time.monotonic() < deadline:
            time.sleep(0.1)
    if child is not None:
        child.wait()
    return 0
