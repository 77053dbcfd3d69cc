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
writes their names when it ends), so the runs after it find them imported. It forks only with one
thread and no event loop alive (checked before every fork), and
it reloads when the team's code or environment changes: the first run after a deploy that changed
them starts cold while the parent drains its runs and starts again with the new code.

`supervise` keeps a warm parent running: one that dies (killed, out of memory, a reload whose import
fails) is started again, with a growing pause while it keeps failing, and its socket is removed
meanwhile so runs start cold rather than knock on a dead one. A run whose warm parent died under it
ends Crashed with a message naming that parent.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import selectors
import signal
import socket
import struct
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

SOCKET_ENV = "JAFFLE_WARM_SOCKET"
# "0": the parent does not import what its runs imported (set by the parent itself when doing so once
# left a thread behind, which would make every fork unsafe).
LEARN_ENV = "JAFFLE_WARM_LEARN"
COMMAND = "python -m jaffle_runtime.launcher run"
# How long a run waits for a warm parent that is running but has not answered (stuck in an import, on a
# slow filesystem) before it starts cold. A parent that is stopped or gone is seen within a second. A
# healthy parent answers within a second; on a machine whose cores are all busy, importing what runs
# imported can hold it for many, and a cold start there costs far more than the usual ten.
HANDSHAKE_ENV = "JAFFLE_WARM_HANDSHAKE_SECONDS"
HANDSHAKE_SECONDS = 120.0
# Settings an interpreter reads once, when it starts (the path, the hash seed, the dynamic loader, the
# thread pools of numerical libraries): a forked run cannot take them from its own environment, so a
# run whose value differs from the warm parent's starts cold. TZ is read again by time.tzset(), which
# the forked run calls.
START_TIME_PREFIXES = ("PYTHON", "LD_", "OMP_", "OPENBLAS_", "MKL_", "NUMBA_", "VECLIB_", "NUMEXPR_")
_HEADER = struct.Struct("!I")
_STREAMS = (0, 1, 2)


def _gone() -> contextlib.suppress:
    """Ignore a peer that has gone away (its run is dealt with by the reaper)."""
    return contextlib.suppress(ProcessLookupError, BrokenPipeError, ConnectionError)


def _log(message: str) -> None:
    print(f"warm launcher: {message}", file=sys.stderr, flush=True)


# --- run: the pool's command ---------------------------------------------------------------------


def _cold(reason: str) -> None:
    """Become `python -m prefect.engine` (same pid: the worker's signals still reach the run)."""
    _log(f"{reason}; starting this run cold")
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
        socket.send_fds(conn, [_HEADER.pack(len(request)) + request], list(_STREAMS))
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
    _log(message)
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


# --- serve: the warm parent ----------------------------------------------------------------------


def _entrypoints(package: Path, named: list[str] | None = None) -> list[Path]:
    """The flow scripts to import: those named, else those of the package's prefect.yaml."""
    if named:
        return [package / script.split(":", 1)[0] for script in named]
    import yaml

    spec = yaml.safe_load((package / "prefect.yaml").read_text())
    scripts = {str(d["entrypoint"]).split(":", 1)[0] for d in spec.get("deployments") or []}
    return [package / script for script in sorted(scripts)]


def _installed() -> set[Path]:
    """The interpreter's and the environment's folders: what is installed, not edited in place."""
    return {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}


def source_folders(package: Path) -> tuple[list[Path], list[Path]]:
    """Where what a run imports can change, taken once when the parent starts (a module imported later
    that extends sys.path does not move them): the environment's site-packages folders (a re-lock
    changes them) and every other source folder on the path that is not part of an interpreter or
    environment (an editable install, such as the platform library this module belongs to)."""
    installed, environments, sources = _installed(), [], []
    for entry in filter(None, sys.path):  # "" is the folder the parent started in, not a source folder
        folder = Path(entry).resolve()
        if not folder.is_dir():
            continue
        if "site-packages" in entry:
            environments.append(folder)
        elif (
            not installed & {folder, *folder.parents}  # not an interpreter's or environment's
            and folder not in {package, *package.parents}  # not the package or a folder holding it
            and not folder.is_relative_to(package)  # the package's own files are counted anyway
        ):
            sources.append(folder)
    return environments, sources


def _files(folder: Path) -> list[Path]:
    """Every file a run may read from a source folder (code, and what code reads at import: a
    `datasets.toml`, a dbt project), less Python's bytecode caches."""
    found = []
    for where, folders, names in os.walk(folder):  # a folder removed mid-walk (a checkout) is skipped
        folders[:] = sorted(name for name in folders if name != "__pycache__")
        found += [Path(where, name) for name in names if not name.endswith((".pyc", ".pyo"))]
    return sorted(found)


def _sources(package: Path, folders: tuple[list[Path], list[Path]]) -> Iterator[Path]:
    """Every file of the team's package (code, and what code reads at import: a `datasets.toml`, a dbt
    project), the environments' folders, and the Python files of the other source folders on the path
    (a library installed editable: a build beside its sources writes other files there, which must not
    reload every team's parent)."""
    environments, sources = folders
    yield from _files(package)
    yield from environments
    for folder in sources:
        yield from (path for path in _files(folder) if path.suffix == ".py")  # sorted already


def fingerprint(
    package: Path, folders: tuple[list[Path], list[Path]] | None = None
) -> tuple[tuple[str, int, int], ...]:
    marks = []
    for path in _sources(package, folders or source_folders(package)):
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        marks.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(marks)


def _preload(package: Path, named: list[str] | None = None) -> None:
    """Import Prefect's engine and the team's flow scripts (with everything they import), and what
    the engine imports only once a run starts: the runner (its control channel) and the deployment
    steps (a run's pull steps). The rest a run imports lazily is learned from the runs."""
    import prefect.deployments.steps.core
    import prefect.engine
    import prefect.flow_engine
    import prefect.runner  # noqa: F401
    from prefect.utilities.importtools import load_script_as_module

    cwd = os.getcwd()
    os.chdir(package)
    try:
        for script in _entrypoints(package, named):
            load_script_as_module(str(script))
    finally:
        os.chdir(cwd)


# Files Prefect also reads its settings from, in the folder a run starts in.
SETTINGS_FILES = (".env", "prefect.toml", "pyproject.toml")


def settings_key(env: dict[str, str], cwd: Path) -> tuple[tuple[str, str], ...]:
    """What Prefect's settings are made of: the PREFECT_ variables of an environment (the double
    underscore ones, PREFECT__FLOW_RUN_ID and the control channel's, are per run and are not settings)
    and the settings files of the folder the run starts in."""
    variables = [(k, v) for k, v in env.items() if k.startswith("PREFECT_") and not k.startswith("PREFECT__")]
    files = []
    for name in SETTINGS_FILES:
        with contextlib.suppress(OSError):
            stat = (cwd / name).stat()
            files.append((f"{name} in the run's folder", f"{stat.st_mtime_ns}:{stat.st_size}"))
    return tuple(sorted(variables + files))


def _as_a_worker_hands_it(env: dict[str, str]) -> dict[str, str]:
    """`env` as Prefect's process worker passes it on to a run: with the worker's settings over it."""
    from prefect.settings import get_current_settings

    return {**env, **get_current_settings().to_environment_variables(exclude_unset=True)}


def _configure(env: dict[str, str], cwd: Path) -> None:
    """Prefect's settings and logging as an interpreter started with `env` in `cwd` would have them.

    The parent does this (about 0.3 s) once per distinct environment, before forking, so that the
    runs it forks find them made; its own environment and folder are put back after."""
    import logging

    import prefect.context
    from prefect.logging.configuration import setup_logging

    # Prefect copies the `prefect.extra` logger's handlers onto PREFECT_LOGGING_EXTRA_LOGGERS and never
    # takes them off: made again, every extra logger would log each line once more per remake.
    copied = set(logging.getLogger("prefect.extra").handlers)
    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        if isinstance(logger, logging.Logger) and logger.name != "prefect.extra":
            for handler in [h for h in logger.handlers if h in copied]:
                logger.removeHandler(handler)
    own, here = dict(os.environ), os.getcwd()
    try:
        os.environ.clear()
        os.environ.update(env)
        os.chdir(cwd)
        prefect.context.refresh_global_settings_context()
        setup_logging(incremental=False)
    finally:
        os.chdir(here)
        os.environ.clear()
        os.environ.update(own)


def start_time_differences(env: dict[str, str], own: dict[str, str] | None = None) -> list[str]:
    """The settings read when an interpreter starts whose value in a run's environment is not the warm
    parent's (a forked run would silently run without them)."""
    own = dict(os.environ) if own is None else own
    names = {k for k in (*env, *own) if k.startswith(START_TIME_PREFIXES)}
    return sorted(k for k in names if env.get(k) != own.get(k))


def _reseed() -> None:
    """A forked run starts with a copy of the parent's random generators: every run would draw the same
    numbers. Each is seeded afresh from the OS, as a new interpreter's are (uuid4 and secrets read the
    OS already). The hash seed is fixed when an interpreter starts and cannot be changed."""
    import random

    random.seed()
    if numpy_random := sys.modules.get("numpy.random"):
        numpy_random.seed()
    if faker_generator := sys.modules.get("faker.generator"):
        faker_generator.random.seed()


def _fork_is_safe() -> str | None:
    import asyncio
    import threading

    if threading.active_count() != 1:
        return f"{threading.active_count()} threads alive: {[t.name for t in threading.enumerate()]}"
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return None
    return "an event loop is running"


def _child(request: dict[str, Any], streams: list[int], inherited: list[Any], imports: Path) -> None:
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
        _die_with_parent()
        _reseed()
        for target, fd in zip(_STREAMS, streams, strict=True):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
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
            _write_atomically(imports, "\n".join(sorted(set(sys.modules) - before)))
        finally:
            os._exit(code)


def _write_atomically(path: Path, text: str) -> None:
    with contextlib.suppress(OSError):
        partial = path.with_name(path.name + ".partial")
        partial.write_text(text)
        partial.replace(path)


def _imports_file(socket_path: Path, pid: int) -> Path:
    return socket_path.with_name(f"{socket_path.name}.{pid}.imports")


def _imported(imports: Path) -> list[str]:
    """The modules an ended run imported that its parent had not (the run wrote them as it exited)."""
    try:
        names = imports.read_text().split()
        imports.unlink()
    except OSError:
        return []
    return names


def _learn(names: list[str], learned: set[str], busy: Callable[[], bool]) -> list[str]:
    """Import in the parent what runs imported lazily (Prefect's runner and deployment steps, a dbt
    adapter, ...), so the runs forked after it find those modules imported too. Stops as soon as a
    request waits (a run's start comes first) and returns the names not yet tried."""
    import importlib
    import importlib.util

    installed = _installed()
    for at, name in enumerate(names):
        if busy():
            return names[at:]
        if name in learned or name.startswith("__") or name in sys.modules:
            continue
        learned.add(name)
        try:
            # Installed libraries only (the environment's, the standard library's): the team's own code
            # may read the run's environment when it is imported, so a run imports it itself.
            spec = importlib.util.find_spec(name)
            origin = spec.origin if spec else None
            if origin not in ("built-in", "frozen") and not (
                origin and installed & set(Path(origin).resolve().parents)
            ):
                continue
            importlib.import_module(name)
        except (Exception, SystemExit):  # a module a run could import need not import here: skip it
            continue
    return []


def _die_with_parent() -> None:
    """PR_SET_PDEATHSIG: a run does not outlive a warm parent that was killed."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def _decline(conn: socket.socket, streams: list[int], answer: bytes) -> None:
    """Answer a request the parent will not fork for (the run then starts cold) and let go of it."""
    with _gone():
        conn.sendall(answer)
    conn.close()
    for fd in streams:
        os.close(fd)


def _gone_away(conn: socket.socket) -> bool:
    """Whether a run's client has closed its end (it timed out and started the run cold)."""
    try:
        return conn.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def _receive(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    data, fds, _flags, _addr = socket.recv_fds(conn, 1 << 16, len(_STREAMS))
    if len(fds) != len(_STREAMS):
        for fd in fds:
            os.close(fd)
        raise ValueError(f"expected {len(_STREAMS)} streams, got {len(fds)}")
    while len(data) < _HEADER.size or len(data) < _HEADER.size + _HEADER.unpack_from(data)[0]:
        more = conn.recv(1 << 16)
        if not more:
            raise ValueError("the request was cut short")
        data += more
    (size,) = _HEADER.unpack_from(data)
    request = json.loads(data[_HEADER.size : _HEADER.size + size])
    if not isinstance(request, dict) or not {"env", "cwd", "argv"} <= set(request):
        raise ValueError("a request names env, cwd and argv")
    return request, fds


def serve(socket_path: Path, package: Path, entrypoints: list[str] | None = None) -> int:
    _preload(package, entrypoints)
    folders = source_folders(package)
    marks = fingerprint(package, folders)
    socket_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    socket_path.unlink(missing_ok=True)
    # Bound under a name of its own and renamed into place once this parent can answer: a run never
    # knocks on a parent still making its settings (it finds no socket, and starts cold at once).
    for stale in socket_path.parent.glob(f"{socket_path.name}.*.binding"):  # a parent killed starting
        stale.unlink(missing_ok=True)
    binding = socket_path.with_name(f"{socket_path.name}.{os.getpid()}.binding")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)
    try:
        listener.bind(str(binding))  # 0600: the worker's user only
    finally:
        os.umask(old_umask)
    listener.listen(64)
    wake_r, wake_w = socket.socketpair()
    wake_r.setblocking(False)
    wake_w.setblocking(False)
    signal.set_wakeup_fd(wake_w.fileno())
    stopping: list[int] = []
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGTERM, lambda signum, _frame: stopping.append(signum))
    signal.signal(signal.SIGINT, lambda signum, _frame: stopping.append(signum))
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "accept")
    selector.register(wake_r, selectors.EVENT_READ, "wake")
    runs: dict[int, socket.socket] = {}
    by_conn: dict[socket.socket, int] = {}
    # A worker hands a run its environment overlaid with its settings, written out as Prefect writes
    # them ("2" becomes "2.0"). Settings for this process's own environment so handed on are made here
    # once, in a folder with no settings files (a run's usual folder is a new temporary one): a run
    # whose worker shares this environment (the platform starts them with the same one) finds them made.
    hands_on = _as_a_worker_hands_it(dict(os.environ))
    os.chdir(socket_path.parent)
    _configure(hands_on, socket_path.parent)
    configured: tuple[tuple[str, str], ...] | None = settings_key(hands_on, socket_path.parent)
    draining = False
    learning, learned = os.environ.get(LEARN_ENV) != "0", set[str]()
    for stale in socket_path.parent.glob(f"{socket_path.name}.*.imports*"):  # a killed parent's
        stale.unlink(missing_ok=True)
    to_learn: list[str] = []  # what ended runs imported, imported here while no request waits

    def busy() -> bool:
        return not draining and bool(select.select([listener], [], [], 0)[0])

    os.rename(binding, socket_path)
    _log(f"ready on {socket_path} for {package.name} (pid {os.getpid()})")

    def stop_listening() -> None:
        selector.unregister(listener)
        listener.close()
        socket_path.unlink(missing_ok=True)

    while True:
        for key, _events in selector.select(timeout=1.0):
            if key.data == "wake":
                try:
                    while wake_r.recv(4096):
                        pass
                except BlockingIOError:
                    pass
            elif key.data == "accept":
                try:
                    conn, _ = listener.accept()
                except OSError as error:  # the peer went away between its connect and our accept
                    _log(f"could not accept a request: {error}")
                    continue
                conn.settimeout(5)  # a request is one message; a silent peer does not hold the parent
                try:
                    request, streams = _receive(conn)
                    conn.settimeout(None)
                except Exception as error:  # a malformed or cut-short request is that request's end
                    _log(f"refused a request: {error}")
                    with _gone():
                        conn.sendall(f"refused {error}\n".encode())
                    conn.close()
                    continue
                if started := start_time_differences(request["env"]):
                    _log(f"refused a request: {', '.join(started)} differ from the warm parent's")
                    _decline(conn, streams, f"refused start-time settings {','.join(started)}\n".encode())
                    continue
                if (wanted := settings_key(request["env"], Path(request["cwd"]))) != configured:
                    differ = ", ".join(sorted({k for k, _ in set(wanted) ^ set(configured or ())}))
                    configured = None
                    try:
                        _configure(request["env"], Path(request["cwd"]))
                    except Exception as error:  # invalid settings: the run starts cold and says so
                        _log(f"refused a request: its Prefect settings do not load ({error})")
                        _decline(conn, streams, b"refused settings\n")
                        continue
                    configured = wanted
                    _log(f"Prefect's settings and logging made again, for a run whose {differ} differ")
                unsafe = _fork_is_safe()
                if fingerprint(package, folders) != marks or unsafe:
                    reason = unsafe or "the team's code or environment changed"
                    _log(f"not forking ({reason}); reloading once the running runs end")
                    _decline(conn, streams, b"reload\n")
                    draining = True
                    stop_listening()
                    continue
                if _gone_away(conn):  # it gave up waiting (and started its run cold): no second run
                    _log("refused a request: its run did not wait for the answer")
                    _decline(conn, streams, b"refused late\n")
                    continue
                sys.stdout.flush()
                sys.stderr.flush()
                try:
                    pid = os.fork()
                except OSError as error:  # EAGAIN, ENOMEM: this run starts cold, the parent serves on
                    _log(f"refused a request: fork failed ({error.strerror or error})")
                    _decline(conn, streams, b"refused fork\n")
                    continue
                if pid == 0:
                    imports = _imports_file(socket_path, os.getpid())
                    _child(request, streams, [listener, wake_r, wake_w, selector, conn, *by_conn], imports)
                for fd in streams:
                    os.close(fd)
                runs[pid], by_conn[conn] = conn, pid
                selector.register(conn, selectors.EVENT_READ, "client")
                with _gone():
                    conn.sendall(f"pid {pid}\n".encode())
            else:  # a client went away (killed): its run must not go on unwatched
                conn = key.fileobj  # type: ignore[assignment]
                try:
                    if conn.recv(1):
                        continue
                except OSError:  # ECONNRESET: gone as well
                    pass
                selector.unregister(conn)
                pid = by_conn.pop(conn)
                with _gone():
                    os.kill(pid, signal.SIGKILL)
        for pid in _reap(runs, by_conn, selector):
            if learning:
                to_learn += _imported(_imports_file(socket_path, pid))
            _imports_file(socket_path, pid).unlink(missing_ok=True)
        if learning and to_learn and not busy():
            to_learn = _learn(to_learn, learned, busy)
            if unsafe := _fork_is_safe():
                _log(f"importing what runs imported left the parent unsafe to fork ({unsafe}); not again")
                learning, os.environ[LEARN_ENV], to_learn = False, "0", []  # the reload inherits it
        if stopping and not draining:
            draining = True
            stop_listening()
            for pid in runs:
                with _gone():
                    os.kill(pid, signal.SIGTERM)
        if draining and not runs:
            if stopping:
                return 0
            _log("reloading")
            signal.set_wakeup_fd(-1)
            os.execv(sys.executable, [sys.executable, "-m", "jaffle_runtime.launcher", *sys.argv[1:]])


def _reap(runs: dict[int, socket.socket], by_conn: dict[socket.socket, int], selector: Any) -> list[int]:
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
        with _gone():
            conn.sendall(message.encode())
        conn.close()
        reaped.append(pid)
    return reaped


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
        _log(f"the warm parent (pid {child.pid}) ended ({how}); starting it again in {pause:g} s")
        deadline = time.monotonic() + pause
        while not stopping and time.monotonic() < deadline:
            time.sleep(0.1)
    if child is not None:
        child.wait()
    return 0


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
        return supervise(parsed.socket.resolve(), args[1:])
    return serve(parsed.socket.resolve(), parsed.package.resolve(), parsed.entrypoint)


if __name__ == "__main__":
    sys.exit(main())
