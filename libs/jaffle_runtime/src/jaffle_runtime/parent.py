"""`serve`: one team's warm parent. It imports Prefect and the team's flow code once, listens on the
team's socket and forks each run a client hands it, unless the run must start cold (its start-time
settings differ, its Prefect settings do not load, forking is unsafe) or the team's code changed, in
which case it drains its runs and starts again with the new code."""

from __future__ import annotations

import os
import select
import selectors
import signal
import socket
import sys
from pathlib import Path
from typing import Any

from jaffle_runtime import forked, freshness, protocol, warmup

# "0": the parent does not import what its runs imported (set by the parent itself when doing so once
# left a thread behind, which would make every fork unsafe).
LEARN_ENV = "JAFFLE_WARM_LEARN"


def serve(socket_path: Path, package: Path, entrypoints: list[str] | None = None) -> int:
    return WarmParent(socket_path, package, entrypoints).serve()


class WarmParent:
    """The parent's state: its socket, the runs it forked (by pid, and by their clients' connections),
    the settings it made last, what it has learned to import, and whether it is draining."""

    def __init__(self, socket_path: Path, package: Path, entrypoints: list[str] | None) -> None:
        warmup.preload(package, entrypoints)
        self.socket_path, self.package = socket_path, package
        self.folders = freshness.source_folders(package)
        self.marks = freshness.fingerprint(package, self.folders)
        binding = self._bind()
        self.wake_r, self.wake_w = socket.socketpair()
        self.wake_r.setblocking(False)
        self.wake_w.setblocking(False)
        signal.set_wakeup_fd(self.wake_w.fileno())
        self.stopping: list[int] = []
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, lambda signum, _frame: self.stopping.append(signum))
        signal.signal(signal.SIGINT, lambda signum, _frame: self.stopping.append(signum))
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ, "accept")
        self.selector.register(self.wake_r, selectors.EVENT_READ, "wake")
        self.runs: dict[int, socket.socket] = {}
        self.by_conn: dict[socket.socket, int] = {}
        # A worker hands a run its environment overlaid with its settings, written out as Prefect writes
        # them ("2" becomes "2.0"). Settings for this process's own environment so handed on are made
        # here once, in a folder with no settings files (a run's usual folder is a new temporary one): a
        # run whose worker shares this environment (the platform starts them with the same one) finds
        # them made.
        hands_on = warmup.as_a_worker_hands_it(dict(os.environ))
        os.chdir(socket_path.parent)
        warmup.configure(hands_on, socket_path.parent)
        self.configured: tuple[tuple[str, str], ...] | None = freshness.settings_key(
            hands_on, socket_path.parent
        )
        self.draining = False
        self.learning, self.learned = os.environ.get(LEARN_ENV) != "0", set[str]()
        for stale in socket_path.parent.glob(f"{socket_path.name}.*.imports*"):  # a killed parent's
            stale.unlink(missing_ok=True)
        self.to_learn: list[str] = []  # what ended runs imported, imported here while no request waits
        os.rename(binding, socket_path)
        protocol.log(f"ready on {socket_path} for {package.name} (pid {os.getpid()})")

    def _bind(self) -> Path:
        """Listen under a name of its own, renamed into place once this parent can answer: a run never
        knocks on a parent still making its settings (it finds no socket, and starts cold at once)."""
        self.socket_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.socket_path.unlink(missing_ok=True)
        for stale in self.socket_path.parent.glob(f"{self.socket_path.name}.*.binding"):  # killed starting
            stale.unlink(missing_ok=True)
        binding = self.socket_path.with_name(f"{self.socket_path.name}.{os.getpid()}.binding")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)
        try:
            self.listener.bind(str(binding))  # 0600: the worker's user only
        finally:
            os.umask(old_umask)
        self.listener.listen(64)
        return binding

    def serve(self) -> int:
        while True:
            for key, _events in self.selector.select(timeout=1.0):
                if key.data == "wake":
                    self._drain_wakeups()
                elif key.data == "accept":
                    self._accept()
                else:
                    self._client_gone(key.fileobj)  # type: ignore[arg-type]
            self._after_runs_end()
            if self.stopping and not self.draining:
                self._stop_listening()
                for pid in self.runs:
                    with protocol.gone():
                        os.kill(pid, signal.SIGTERM)
            if self.draining and not self.runs:
                if self.stopping:
                    return 0
                protocol.log("reloading")
                signal.set_wakeup_fd(-1)
                os.execv(sys.executable, [sys.executable, "-m", "jaffle_runtime.launcher", *sys.argv[1:]])

    def busy(self) -> bool:
        """Whether a request waits (a run's start comes before learning)."""
        return not self.draining and bool(select.select([self.listener], [], [], 0)[0])

    def _drain_wakeups(self) -> None:
        try:
            while self.wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass

    def _stop_listening(self) -> None:
        self.draining = True
        self.selector.unregister(self.listener)
        self.listener.close()
        self.socket_path.unlink(missing_ok=True)

    def _accept(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError as error:  # the peer went away between its connect and our accept
            protocol.log(f"could not accept a request: {error}")
            return
        conn.settimeout(5)  # a request is one message; a silent peer does not hold the parent
        try:
            request, streams = protocol.receive(conn)
            conn.settimeout(None)
        except Exception as error:  # a malformed or cut-short request is that request's end
            protocol.log(f"refused a request: {error}")
            with protocol.gone():
                conn.sendall(f"refused {error}\n".encode())
            conn.close()
            return
        refusal = self._refusal(conn, request)
        if refusal is not None:
            protocol.decline(conn, streams, refusal)
            return
        self._fork(conn, request, streams)

    def _refusal(self, conn: socket.socket, request: dict[str, Any]) -> bytes | None:
        """Why this request's run must start cold (the answer to send), or None to fork it."""
        if started := freshness.start_time_differences(request["env"]):
            protocol.log(f"refused a request: {', '.join(started)} differ from the warm parent's")
            return f"refused start-time settings {','.join(started)}\n".encode()
        wanted = freshness.settings_key(request["env"], Path(request["cwd"]))
        if wanted != self.configured:
            differ = ", ".join(sorted({k for k, _ in set(wanted) ^ set(self.configured or ())}))
            self.configured = None
            try:
                warmup.configure(request["env"], Path(request["cwd"]))
            except Exception as error:  # invalid settings: the run starts cold and says so
                protocol.log(f"refused a request: its Prefect settings do not load ({error})")
                return b"refused settings\n"
            self.configured = wanted
            protocol.log(f"Prefect's settings and logging made again, for a run whose {differ} differ")
        unsafe = warmup.fork_is_safe()
        if freshness.fingerprint(self.package, self.folders) != self.marks or unsafe:
            reason = unsafe or "the team's code or environment changed"
            protocol.log(f"not forking ({reason}); reloading once the running runs end")
            self._stop_listening()
            return b"reload\n"
        if protocol.gone_away(conn):  # it gave up waiting (and started its run cold): no second run
            protocol.log("refused a request: its run did not wait for the answer")
            return b"refused late\n"
        return None

    def _fork(self, conn: socket.socket, request: dict[str, Any], streams: list[int]) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            pid = os.fork()
        except OSError as error:  # EAGAIN, ENOMEM: this run starts cold, the parent serves on
            protocol.log(f"refused a request: fork failed ({error.strerror or error})")
            protocol.decline(conn, streams, b"refused fork\n")
            return
        if pid == 0:
            imports = warmup.imports_file(self.socket_path, os.getpid())
            held = [self.listener, self.wake_r, self.wake_w, self.selector, conn, *self.by_conn]
            forked.run_forked(request, streams, held, imports)
        for fd in streams:
            os.close(fd)
        self.runs[pid], self.by_conn[conn] = conn, pid
        self.selector.register(conn, selectors.EVENT_READ, "client")
        with protocol.gone():
            conn.sendall(f"pid {pid}\n".encode())

    def _client_gone(self, conn: socket.socket) -> None:
        """A client went away (killed): its run must not go on unwatched."""
        try:
            if conn.recv(1):
                return
        except OSError:  # ECONNRESET: gone as well
            pass
        self.selector.unregister(conn)
        pid = self.by_conn.pop(conn)
        with protocol.gone():
            os.kill(pid, signal.SIGKILL)

    def _after_runs_end(self) -> None:
        """Tell ended runs' clients how they ended, then import what they imported while no request
        waits (never again if doing so leaves the parent unsafe to fork)."""
        for pid in reap(self.runs, self.by_conn, self.selector):
            if self.learning:
                self.to_learn += warmup.imported(warmup.imports_file(self.socket_path, pid))
            warmup.imports_file(self.socket_path, pid).unlink(missing_ok=True)
        if self.learning and self.to_learn and not self.busy():
            self.to_learn = warmup.learn(self.to_learn, self.learned, self.busy)
            if unsafe := warmup.fork_is_safe():
                protocol.log(
                    f"importing what runs imported left the parent unsafe to fork ({unsafe}); not again"
                )
                self.learning, self.to_learn = False, []
                os.environ[LEARN_ENV] = "0"  # the reload inherits it


def reap(runs: dict[int, socket.socket], by_conn: dict[socket.socket, int], selector: Any) -> list[int]:
    """Tell each ended run's client how it ended; the pids of those runs."""
    reaped: list[int] = []
    while runs:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
        conn = runs.pop(pid, None)
        if conn is None:
            continue
        if by_conn.pop(conn, None) is not None:
            selector.unregister(conn)
        if os.WIFSIGNALED(status):
            message = f"signal {os.WTERMSIG(status)}\n"
        else:
            message = f"exit {os.waitstatus_to_exitcode(status)}\n"
        with protocol.gone():
            conn.sendall(message.encode())
        conn.close()
        reaped.append(pid)
    return reaped
