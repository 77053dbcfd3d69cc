"""What a warm parent makes ready before it forks runs: Prefect's engine and the team's flow scripts
imported, Prefect's settings and logging made for a run's environment, and the installed libraries
earlier runs imported lazily (learned from the names each run writes as it ends)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

from jaffle_runtime import freshness


def preload(package: Path, named: list[str] | None = None) -> None:
    """Import Prefect's engine and the team's flow scripts (with everything they import), and what
    the engine imports only once a run starts: the runner (its control channel) and the deployment
    steps (a run's pull steps). The rest a run imports lazily is learned from the runs."""
    import prefect.deployments.steps.core
    import prefect.engine
    import prefect.flow_engine
    import prefect.runner  # noqa: F401
    from prefect.utilities.importtools import load_script_as_module

    cwd, path = os.getcwd(), list(sys.path)
    os.chdir(package)
    try:
        for script in freshness.entrypoints(package, named):
            load_script_as_module(str(script))
    finally:
        os.chdir(cwd)
        # Prefect leaves the script's folder on sys.path; a run's engine puts it there again when it
        # loads its flow, as a stock run's does: a run's path is a stock run's.
        sys.path[:] = path


def as_a_worker_hands_it(env: dict[str, str]) -> dict[str, str]:
    """`env` as Prefect's process worker passes it on to a run: with the worker's settings over it."""
    from prefect.settings import get_current_settings

    return {**env, **get_current_settings().to_environment_variables(exclude_unset=True)}


def configure(env: dict[str, str], cwd: Path) -> None:
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


def unlearnable(socket_path: Path) -> Path:
    """Where a parent marks that importing what runs imported left it unsafe to fork: the parents
    started after it (until the supervisor starts afresh) do not learn."""
    return socket_path.with_name(f"{socket_path.name}.unlearnable")


def imports_file(socket_path: Path, pid: int) -> Path:
    return socket_path.with_name(f"{socket_path.name}.{pid}.imports")


def imported(imports: Path) -> list[str]:
    """The modules an ended run imported that its parent had not (the run wrote them as it exited)."""
    try:
        names = imports.read_text().split()
        imports.unlink()
    except OSError:
        return []
    return names


def learn(names: list[str], learned: set[str], busy: Callable[[], bool]) -> list[str]:
    """Import in the parent what runs imported lazily (Prefect's runner and deployment steps, a dbt
    adapter, ...), so the runs forked after it find those modules imported too. Stops as soon as a
    request waits (a run's start comes first) and returns the names not yet tried."""
    import importlib
    import importlib.util

    installed = freshness.installed_folders()
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
