"""What a warm parent was made from, and whether a run may be forked from it: the team's code and
environment it imported (a change reloads the parent), the Prefect settings it made for a run's
environment, and the settings an interpreter reads only when it starts (a difference starts the run
cold)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

# Settings an interpreter reads once, when it starts (the path, the hash seed, the dynamic loader, the
# thread pools of numerical libraries): a forked run cannot take them from its own environment, so a
# run whose value differs from the warm parent's starts cold. TZ is read again by time.tzset(), which
# the forked run calls.
START_TIME_PREFIXES = ("PYTHON", "LD_", "OMP_", "OPENBLAS_", "MKL_", "NUMBA_", "VECLIB_", "NUMEXPR_")


def entrypoints(package: Path, named: list[str] | None = None) -> list[Path]:
    """The flow scripts to import: those named, else those of the package's prefect.yaml."""
    if named:
        return [package / script.split(":", 1)[0] for script in named]
    import yaml

    spec = yaml.safe_load((package / "prefect.yaml").read_text())
    scripts = {str(d["entrypoint"]).split(":", 1)[0] for d in spec.get("deployments") or []}
    return [package / script for script in sorted(scripts)]


def installed_folders() -> set[Path]:
    """The interpreter's and the environment's folders: what is installed, not edited in place."""
    return {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}


def source_folders(package: Path) -> tuple[list[Path], list[Path]]:
    """Where what a run imports can change, taken once when the parent starts (a module imported later
    that extends sys.path does not move them): the environment's site-packages folders (a re-lock
    changes them) and every other source folder on the path that is not part of an interpreter or
    environment (an editable install, such as the platform library this module belongs to)."""
    installed, environments, sources = installed_folders(), [], []
    # The folder the parent started in ("" or, under `python -m`, its path first on sys.path) is not a
    # source folder: a run has its own there (forked.run_forked puts it in its place).
    started_in = sys.path[:1] if sys.path[:1] == [os.getcwd()] else []
    for entry in (entry for entry in sys.path if entry and entry not in started_in):
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


def files(folder: Path) -> list[Path]:
    """Every file a run may read from a source folder (code, and what code reads at import: a
    `datasets.toml`, a dbt project), less Python's bytecode caches."""
    found = []
    for where, folders, names in os.walk(folder):  # a folder removed mid-walk (a checkout) is skipped
        folders[:] = sorted(name for name in folders if name != "__pycache__")
        found += [Path(where, name) for name in names if not name.endswith((".pyc", ".pyo"))]
    return sorted(found)


def watched_files(package: Path, folders: tuple[list[Path], list[Path]]) -> Iterator[Path]:
    """Every file of the team's package (code, and what code reads at import: a `datasets.toml`, a dbt
    project), the environments' folders, and the Python files of the other source folders on the path
    (a library installed editable: a build beside its sources writes other files there, which must not
    reload every team's parent)."""
    environments, sources = folders
    yield from files(package)
    yield from environments
    for folder in sources:
        yield from (path for path in files(folder) if path.suffix == ".py")  # sorted already


def fingerprint(
    package: Path, folders: tuple[list[Path], list[Path]] | None = None
) -> tuple[tuple[str, int, int], ...]:
    marks = []
    for path in watched_files(package, folders or source_folders(package)):
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        marks.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(marks)


def changed(
    before: tuple[tuple[str, int, int], ...], after: tuple[tuple[str, int, int], ...], most: int = 3
) -> str:
    """The files that differ between two fingerprints (added, removed or written), the first `most`."""
    paths = sorted({path for path, *_ in set(before) ^ set(after)})
    named = ", ".join(paths[:most]) + (f" and {len(paths) - most} more" if len(paths) > most else "")
    return named or "nothing"


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


def start_time_differences(env: dict[str, str], own: dict[str, str] | None = None) -> list[str]:
    """The settings read when an interpreter starts whose value in a run's environment is not the warm
    parent's (a forked run would silently run without them)."""
    own = dict(os.environ) if own is None else own
    names = {k for k in (*env, *own) if k.startswith(START_TIME_PREFIXES)}
    return sorted(k for k in names if env.get(k) != own.get(k))
