"""`serve`: one team's warm parent. It imports Prefect and the team's flow code once, listens on the
team's socket and forks each run a client hands it, unless the run must start cold (its start-time
settings differ, its Prefect settings do not load, forking is unsafe) or the team's code changed.

When the code changed, a supervised parent asks its supervisor for a new parent beside it and serves on,
answering each request "reload" (the run starts cold, never with the old code), until the new parent
has imported the new code and taken the socket over (an atomic rename): then it drains its running runs
and ends. A new parent whose import fails never takes over; the old one serves on, asks again later and
at the next change, and the supervisor's log says why. Unsupervised, it drains and re-executes itself."""

from __future__ import annotations

import os
import select
import selectors
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

from jaffle_runtime import forked, forksafety, freshness, protocol, warmup

# "0": the parent does not import what its runs imported.
LEARN_ENV = "JAFFLE_WARM_LEARN"
# The pipe on which a supervised parent says it is ready (it has taken the socket): `supervise` sets it.
READY_FD_ENV = "JAFFLE_WARM_READY_FD"
# How long a parent waiting to be replaced waits before it asks again (a new parent that failed to
# start, for a cause that may pass), doubled at each ask up to the cap.
ASK_AGAIN_SECONDS, ASK_AGAIN_CAP_SECONDS = 30.0, 600.0


def serve(socket_path: Path, package: Path, entrypoints: list[str] | None = None) -> int:
    return WarmParent(socket_path, package, entrypoints).serve()


class WarmParent:
    """The parent's state: its socket, the runs it forked (by pid, and by their clients' connections),
    the settings it made last, what it has learned to import, and whether it is draining."""

    def __init__(self, socket_path: Path, package: Path, entrypoints: list[str] | None) -> None:
        ready = os.environ.pop(READY_FD_ENV, None)  # not handed on to the runs
        self.supervisor = os.getppid() if ready else None
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
        self.draining = self.handed_over = False
        self.replacing: tuple[tuple[str, int, int], ...] | None = None  # the code a new parent is asked for
        self.asked_at, self.ask_again = 0.0, ASK_AGAIN_SECONDS
        self.learning = os.environ.get(LEARN_ENV) != "0" and not warmup.unlearnable(socket_path).exists()
        self.learned = set[str]()
        for stale in socket_path.parent.glob(f"{socket_path.name}.*.imports*"):  # a killed parent's runs'
            if not _alive(_pid_in(stale)):
                stale.unlink(missing_ok=True)
        self.to_learn: list[str] = []  # what ended runs imported, imported here while no request waits
        # Unsafe already, with only its own imports made (a library that starts a thread when imported):
        # a new parent would be no safer, so every run starts cold until the code changes.
        self.born_unsafe = forksafety.unsafe_to_fork()
        os.rename(binding, socket_path)  # atomically over a parent being replaced
        self.inode = socket_path.stat().st_ino
        protocol.log(f"ready on {socket_path} for {package.name} (pid {os.getpid()})")
        sources = ", ".join(str(folder) for folder in self.folders[1]) or "none"
        protocol.log(f"watching {len(self.marks)} files: the package's, its environment's, and {sources}")
        if self.born_unsafe:
            protocol.log(f"unsafe to fork ({self.born_unsafe}): every run starts cold")
        if ready:
            with protocol.gone():
                os.write(int(ready), b"ready\n")
            os.close(int(ready))

    def _bind(self) -> Path:
        """Listen under a name of its own, renamed into place once this parent can answer: a run never
        knocks on a parent still making its settings (it finds no socket, and starts cold at once)."""
        self.socket_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        for stale in self.socket_path.parent.glob(f"{self.socket_path.name}.*.binding"):  # killed starting
            if not _alive(_pid_in(stale)):
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
            if self.replacing is not None and not self.draining and self._taken_over():
                self._hand_over()
            if self.stopping and not self.draining:
                self._stop_listening()
                for pid in self.runs:
                    with protocol.gone():
                        os.kill(pid, signal.SIGTERM)
            if self.draining and not self.runs:
                if self.stopping or self.handed_over:
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
        if not self._taken_over():  # a new parent's socket is not this one's to remove
            self.socket_path.unlink(missing_ok=True)

    def _taken_over(self) -> bool:
        try:
            return self.socket_path.stat().st_ino != self.inode
        except FileNotFoundError:
            return False

    def _hand_over(self) -> None:
        """A new parent has the socket: answer what still waits here "reload", then drain and end."""
        protocol.log(f"a new parent took over; ending once {len(self.runs)} running runs end")
        self.selector.unregister(self.listener)
        self.listener.setblocking(False)
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:  # none left (BlockingIOError), or one that went away
                break
            with protocol.gone():
                conn.sendall(b"reload\n")
            conn.close()
        self.listener.close()
        self.draining = self.handed_over = True

    def _replace(self, marks: tuple[tuple[str, int, int], ...], reason: str) -> bytes:
        """This parent may fork no more (`reason`): have a new one started, and start runs cold meanwhile.
        Supervised, the new one starts beside this one, which serves on until it takes over."""
        if self.supervisor is None or os.getppid() != self.supervisor:
            protocol.log(f"not forking ({reason}); reloading once the running runs end")
            self._stop_listening()
            return b"reload\n"
        now = time.monotonic()
        if marks != self.replacing or now - self.asked_at >= self.ask_again:
            again = marks == self.replacing
            self.ask_again = min(self.ask_again * 2, ASK_AGAIN_CAP_SECONDS) if again else ASK_AGAIN_SECONDS
            self.replacing, self.asked_at = marks, now
            asked = "asked again for a new parent" if again else "asked for a new parent beside this one"
            protocol.log(f"not forking ({reason}); {asked}; runs start cold until it takes over")
            os.kill(self.supervisor, signal.SIGUSR1)
        return b"reload\n"

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
        marks = freshness.fingerprint(self.package, self.folders)
        if marks != self.marks:
            return self._replace(marks, f"changed: {freshness.changed(self.marks, marks)}")
        if self.born_unsafe:
            return b"refused unsafe\n"
        if unsafe := forksafety.unsafe_to_fork():
            return self._replace(marks, unsafe)
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
            if unsafe := forksafety.unsafe_to_fork():
                protocol.log(
                    f"importing what runs imported left the parent unsafe to fork ({unsafe}); not again"
                )
                self.learning, self.to_learn = False, []
                os.environ[LEARN_ENV] = "0"  # a reload in place inherits it, a new parent reads the file
                warmup.unlearnable(self.socket_path).touch()


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


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's: alive
        pass
    return True


def _pid_in(path: Path) -> int:
    """The pid in a name such as `warm.sock.123.imports`."""
    return next((int(part) for part in reversed(path.name.split(".")) if part.isdigit()), 0)
