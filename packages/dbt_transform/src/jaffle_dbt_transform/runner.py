"""Run the dbt projects: arguments, environment, the writer lock, results, publishing and docs.

No Prefect here: the flows pass prefect-dbt's runner to `run` as `invoke` (so every dbt node is a task
in the Prefect UI) and use the rest as plain functions. The window reaches dbt once, resolved by the
flow, in the build's environment (`WINDOW_ENV`), read by the `in_run_window` macro at execution time
only: dbt keeps its parsed manifest across windows (a changed `--vars` would make every run parse the
whole project again). The projects declare no default window of their own.

The handoff to readers: dbt builds into `warehouse/.build/<project>.duckdb` while holding a file lock
(one writer per project at a time; a second backfill chunk waits), then copies the database into a
temporary file and renames it over `warehouse/<project>.duckdb`. Readers (ML, dashboards, the
attribution project) open the published file read-only, so a build never meets a reader's lock and a
reader never sees a half-built mart. dbt commits model by model, so a build that stops before it publishes
(a failed test, a cancel, a kill) would leave the build database half-advanced; the next build first puts
it back to the published one (`start_from_published`).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
from dbt.cli.main import dbtRunner
from filelock import FileLock, Timeout
from jaffle_contract import contracts
from jaffle_contract.datasets import PUBLISHED_MODE
from jaffle_contract.window import Window
from jaffle_data import coverage

from jaffle_dbt_transform import pg_load
from jaffle_dbt_transform import sources as dbt_sources
from jaffle_dbt_transform.settings import PROJECTS, PROJECTS_DIR, DbtSettings

FAILED = {"error", "fail", "runtime error"}
ANSI = re.compile(r"\x1b\[[0-9;]*m")
# The build's window, as the `in_run_window` macro reads it (macros/run_window.sql names them too).
WINDOW_ENV = ("JAFFLE_WINDOW_START", "JAFFLE_WINDOW_END")
# The team's datasets (datasets.toml): its marts, their places and day columns.
DECLARATIONS = contracts.load_installed("jaffle_dbt_transform")
# The raw sources each project reads from the lake.
RAW_SOURCES = {p: tuple(s for s, (by, _) in dbt_sources.SOURCES.items() if by == p) for p in PROJECTS}


@dataclass(frozen=True)
class NodeResult:
    name: str
    resource_type: str
    status: str
    message: str | None


class DbtBuildFailed(RuntimeError):
    """dbt finished but some models or tests did not pass, or could not run at all."""


def project_dir(project: str) -> Path:
    if project not in PROJECTS:
        raise ValueError(f"unknown dbt project {project!r}; expected one of {', '.join(PROJECTS)}")
    return PROJECTS_DIR / project


def check_inputs(project: str, settings: DbtSettings) -> None:
    """Fail early, naming what to run first, when a project's upstream warehouse does not exist."""
    on_duckdb = settings.dbt_target == "local"
    upstream = settings.published_file("jaffle_shop")
    if project == "attribution" and on_duckdb and not settings.storage.exists(upstream):
        raise DbtBuildFailed(
            f"no jaffle_shop warehouse at {settings.storage.uri(upstream)}: "
            "run the dbt-jaffle-shop flow first (attribution reads its orders mart)"
        )


def _dbt_args(command: list[str], project: str, settings: DbtSettings) -> list[str]:
    """A dbt command with this project's folders, profile target, artifacts and logs."""
    return [
        *command,
        "--project-dir",
        str(project_dir(project)),
        "--profiles-dir",
        str(PROJECTS_DIR),
        "--target",
        settings.dbt_target,
        "--target-path",
        str(settings.artifacts_dir(project) / "target"),
        "--log-path",
        str(settings.artifacts_dir(project) / "logs"),
    ]


def build_args(project: str, full_refresh: bool, settings: DbtSettings) -> list[str]:
    """`dbt build` arguments for one project (its window comes in `environment`)."""
    args = _dbt_args(["build"], project, settings)
    return [*args, "--full-refresh"] if full_refresh else args


def window_environment(start: date, end: date) -> dict[str, str]:
    """The window as the build's environment (a reversed window never reaches dbt)."""
    window = Window(start, end)
    return dict(zip(WINDOW_ENV, (window.start.isoformat(), window.end.isoformat()), strict=True))


@contextlib.contextmanager
def environment(project: str, settings: DbtSettings, window: dict[str, str] | None = None) -> Iterator[None]:
    """The environment variables profiles.yml, the sources and (for a build) the window macro read."""
    settings.build_path(project).parent.mkdir(parents=True, exist_ok=True)
    values = {
        "JAFFLE_LAKE_DIR": settings.lake_url,
        "JAFFLE_DBT_BUILD_PATH": str(settings.build_path(project)),
        # attribution attaches the published jaffle_shop warehouse read-only (a local copy of it when
        # it lives on an object store)
        "JAFFLE_DBT_JAFFLE_SHOP_WAREHOUSE": (
            str(settings.published("jaffle_shop"))
            if project == "attribution" and settings.dbt_target == "local"
            else ""
        ),
        **dict.fromkeys(WINDOW_ENV, ""),
        **(window or {}),
    }
    if settings.dbt_target == "postgres":  # profiles.yml reads it; only this process, only this build
        values["JAFFLE_PG_PASSWORD"] = settings.pg_password.get_secret_value()
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def writer_lock(project: str, settings: DbtSettings, warn: Callable[[str], None] = print) -> Iterator[None]:
    """Hold the project's build lock; say so when another build holds it and wait for it."""
    path = settings.lock_path(project)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        warn(f"another {project} build holds {path}; waiting up to {settings.dbt_lock_timeout_seconds:.0f} s")
        try:
            lock.acquire(timeout=settings.dbt_lock_timeout_seconds)
        except Timeout:
            raise DbtBuildFailed(
                f"gave up after {settings.dbt_lock_timeout_seconds:.0f} s waiting for the {project} "
                f"build lock "
                f"{path} (JAFFLE_DBT_LOCK_TIMEOUT_SECONDS)"
            ) from None
    try:
        yield
    finally:
        lock.release()


def results_of(project: str, outcome) -> list[NodeResult]:
    """Every node dbt ran; raises DbtBuildFailed naming each model or test that failed."""
    if outcome.exception is not None and outcome.result is None:
        raise DbtBuildFailed(f"dbt build {project} could not run: {outcome.exception}")
    results = [
        NodeResult(
            r.node.name, str(r.node.resource_type), str(r.status), ANSI.sub("", r.message or "") or None
        )
        for r in outcome.result.results
    ]
    failed = [r for r in results if r.status in FAILED]
    if failed or not outcome.success:
        detail = "; ".join(f"{r.resource_type} {r.name}: {r.status} ({r.message})" for r in failed)
        raise DbtBuildFailed(f"dbt build {project} failed: {detail or outcome.exception or 'see dbt logs'}")
    return results


def days_file(project: str) -> str:
    """Where the days of a project's published warehouse are listed (`jaffle_data.coverage`)."""
    marts = [d for d in DECLARATIONS.produces if d.name.startswith(f"{project}.")]
    return coverage.days_file(marts[0].location)


def publish(project: str, settings: DbtSettings, warn: Callable[[str], None] = print) -> str:
    """Copy the built database to `warehouse/<project>.duckdb` under the data root atomically, and list
    beside it the days its day-partitioned marts hold (`jaffle_data.coverage`). The list goes before
    the file is replaced and comes back after, so it never names a day the published file lacks; a list
    that cannot be written is a warning (the next `missing` backfill only rebuilds more).
    Returns where it was published."""
    build = settings.build_path(project)
    scratch = build.with_name(f".{project}.publishing")
    scratch.unlink(missing_ok=True)
    marts = [d for d in DECLARATIONS.produces if d.name.startswith(f"{project}.")]
    by_day = {d.location.split("#", 1)[1]: d.partition_by for d in marts if d.partition_by}
    listing = days_file(project)
    # dbt-duckdb may still hold the build database open in this process; the same-process
    # connection shares it, so this sees exactly what dbt committed.
    with duckdb.connect(str(build)) as con:
        catalog = con.execute("select current_database()").fetchone()[0]
        con.execute("checkpoint")
        days = {}
        for table, column in by_day.items():
            found = con.execute(
                f'select distinct {column} from "{catalog}".{table} where {column} is not null'
            ).fetchall()
            days[table] = [day for (day,) in found]
        document = coverage.days_document(days)
        con.execute(f"attach '{scratch}' as publishing")
        try:
            con.execute(f'copy from database "{catalog}" to publishing')
        finally:
            con.execute("detach publishing")
    storage = settings.storage
    try:
        storage.remove(listing)
        storage.put(scratch, settings.published_file(project), mode=PUBLISHED_MODE, move=True)
    finally:
        scratch.unlink(missing_ok=True)
    try:
        storage.write_bytes(document, listing, mode=PUBLISHED_MODE)
    except OSError as error:
        warn(f"the {project} warehouse is published, but its days list could not be written: {error}")
    return storage.uri(settings.published_file(project))


def _clean_mark(project: str, settings: DbtSettings) -> Path:
    return settings.build_path(project).with_suffix(".published")


def start_from_published(project: str, settings: DbtSettings) -> bool:
    """Make the build database what readers see before a build writes to it; True if it had to.

    dbt commits model by model, so a build that ends before it publishes (a failed test, a cancel, a
    kill) leaves some incremental marts holding its window and others not. A later build of another
    window would build on that and never mend it. The mark beside the build database names the
    published file it equals (`Storage.identity`); with no mark, or a mark for another file, the build
    database is replaced by a copy of the published one (or removed, when nothing was published: dbt
    then builds from the lake). The mark goes before dbt writes and comes back only once a build is
    published.
    """
    build, mark = settings.build_path(project), _clean_mark(project, settings)
    published = settings.storage.identity(settings.published_file(project))
    clean = build.exists() and mark.exists() and mark.read_text() == published
    mark.unlink(missing_ok=True)
    if clean:
        return False
    for leftover in (build, build.with_name(f"{build.name}.wal")):
        leftover.unlink(missing_ok=True)
    if published is not None:
        copy = build.with_name(f".{build.name}.restoring")
        shutil.copyfile(settings.published(project), copy)
        os.replace(copy, build)
    return True


def mark_published(project: str, settings: DbtSettings) -> None:
    """Record that the build database equals the file just published (atomically)."""
    mark = _clean_mark(project, settings)
    scratch = mark.with_name(f".{mark.name}.writing")
    scratch.write_text(settings.storage.identity(settings.published_file(project)) or "")
    os.replace(scratch, mark)


def generate_docs(project: str, settings: DbtSettings) -> Path:
    """`dbt docs generate --static`: one self-contained HTML page, copied beside the dbt artifacts."""
    target = settings.artifacts_dir(project) / "target"
    with environment(project, settings):
        outcome = dbtRunner().invoke(
            [*_dbt_args(["docs", "generate", "--static"], project, settings), "--quiet"]
        )
    if not outcome.success:
        raise DbtBuildFailed(f"dbt docs generate {project} failed: {outcome.exception}")
    page = settings.artifacts_dir(project) / "docs" / "index.html"
    page.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(target / "static_index.html", page)
    return page


@dataclass(frozen=True)
class BuildOutcome:
    results: list[NodeResult]
    published: str | None  # where the DuckDB file readers open was published; None on PostgreSQL
    docs: Path | None
    # Wall seconds per phase: load (PostgreSQL only), parse (dbt's start, manifest included), execute
    # (dbt's own elapsed time for the nodes), publish (local only), docs.
    seconds: dict[str, float]


@contextlib.contextmanager
def _timed(seconds: dict[str, float], phase: str) -> Iterator[None]:
    """Record the wall seconds the block took as `seconds[phase]`."""
    started = time.perf_counter()
    yield
    seconds[phase] = round(time.perf_counter() - started, 2)


def run(
    project: str,
    start: date,
    end: date,
    full_refresh: bool = False,
    settings: DbtSettings | None = None,
    invoke: Callable[[list[str]], object] | None = None,
    docs: bool = True,
    warn: Callable[[str], None] = print,
    on_published: Callable[[], None] | None = None,
) -> BuildOutcome:
    """Build one project under its writer lock, publish it, and generate its docs.

    `invoke` runs dbt (default: dbt's own runner; the flows pass prefect-dbt's). `on_published` is
    called once readers see the new marts (published, or built on PostgreSQL), before the docs.
    """
    settings = settings or DbtSettings()
    check_inputs(project, settings)
    invoke = invoke or (lambda args: dbtRunner().invoke(args))
    window = window_environment(start, end)
    seconds: dict[str, float] = {}
    published = page = None
    with writer_lock(project, settings, warn=warn):
        try:
            if settings.dbt_target == "postgres":
                # No days list describes a PostgreSQL warehouse: one an earlier DuckDB build left would
                # tell a `missing` backfill that days are there which this warehouse may lack.
                settings.storage.remove(days_file(project))
                with _timed(seconds, "load"):
                    pg_load.load(
                        settings.storage, settings.pg_dsn, start, end, full_refresh, RAW_SOURCES[project]
                    )
            if settings.dbt_target == "local" and start_from_published(project, settings):
                warn(
                    f"the {project} build database did not match the published warehouse (an earlier "
                    "build ended before it published); starting from the published one"
                )
            results_file = settings.artifacts_dir(project) / "target" / "run_results.json"
            invoked = time.time()
            with _timed(seconds, "build"), environment(project, settings, window):
                outcome = invoke(build_args(project, full_refresh, settings))
            returned = time.time()
            results = results_of(project, outcome)
            execute = round(float(getattr(outcome.result, "elapsed_time", 0.0) or 0.0), 2)
            # dbt writes its run results as it ends; what `invoke` took after that is the invoker's own
            # wrap-up (prefect-dbt's per-node task runs and logs), and what is left of the build is
            # dbt's start and parse.
            written = results_file.stat().st_mtime if results_file.exists() else returned
            report = round(max(0.0, returned - written) if written >= invoked else 0.0, 2)
            build = seconds.pop("build")
            seconds["parse"] = round(max(0.0, build - execute - report), 2)
            seconds["execute"], seconds["report"] = execute, report
            # PostgreSQL needs no handoff copy: dbt swaps its tables in transactions readers never see.
            if settings.dbt_target == "local":
                with _timed(seconds, "publish"):
                    published = publish(project, settings, warn)
                    mark_published(project, settings)
            if on_published is not None:
                on_published()
            if docs:
                with _timed(seconds, "docs"):
                    page = generate_docs(project, settings)
        finally:
            # Let go of the build database before the lock: the next writer may be another process.
            release_duckdb()
    return BuildOutcome(results, published, page, seconds)


def release_duckdb() -> None:
    """Close the DuckDB database dbt-duckdb keeps open for the life of the process."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    with DuckDBConnectionManager._LOCK:
        held, DuckDBConnectionManager._ENV = DuckDBConnectionManager._ENV, None
    if held is not None:
        held.close()
