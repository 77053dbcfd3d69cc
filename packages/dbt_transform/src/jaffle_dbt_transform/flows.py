"""dbt flows: deployed as `dbt-jaffle-shop` and `dbt-attribution`.

Each runs `dbt build` through prefect-dbt's PrefectDbtRunner, so every model, test and unit test is
its own task run in the Prefect UI, then publishes the warehouse for readers and links the dbt docs.
"""

from __future__ import annotations

import time
from datetime import date

import httpx
from jaffle_contract import runtime
from jaffle_contract.parameters import parameter
from jaffle_contract.window import resolve_window
from jaffle_data import lineage
from prefect import flow, get_run_logger
from prefect.artifacts import create_link_artifact, create_table_artifact
from prefect.concurrency.asyncio import ConcurrencySlotAcquisitionError
from prefect.concurrency.sync import concurrency
from prefect_dbt import PrefectDbtRunner, PrefectDbtSettings
from pydantic import SecretStr

from jaffle_dbt_transform import runner
from jaffle_dbt_transform.settings import PROJECTS_DIR, DbtSettings

# The marts this team declares (datasets.toml): each build emits their lineage events.
DECLARATIONS = runner.DECLARATIONS


def record_runtime() -> dict[str, str]:
    """Record which interpreter and library versions ran this flow (the isolation evidence)."""
    libraries = ("prefect", "prefect-dbt", "dbt-core", "dbt-duckdb", "duckdb", "protobuf")
    record = runtime.runtime_record(libraries)
    create_table_artifact(
        key=runtime.artifact_key(DECLARATIONS.team), table=[record], description=runtime.DESCRIPTION
    )
    return record


class WarehouseBusy(TimeoutError):
    """Another warehouse build held the platform's warehouse slot for longer than this run would wait."""


_NOT_BUILT = object()  # what a build returned, before it returns


def _api_unreachable(error: BaseException) -> bool:
    """The slot request failed because the Prefect API did not answer (a restart), not because of a
    missing limit or a refusal."""
    cause = error.__cause__
    if isinstance(cause, httpx.HTTPStatusError):
        return cause.response.status_code >= 500
    return isinstance(cause, httpx.TransportError | OSError)


def with_pg_password(settings: DbtSettings) -> DbtSettings:
    """The postgres target's password: the environment's where a person runs dbt by hand, else the
    platform's Prefect Secret block (flow runs get no passwords in their environment)."""
    if settings.dbt_target != "postgres" or settings.pg_password.get_secret_value():
        return settings
    from prefect.blocks.system import Secret

    try:
        password = Secret.load(settings.pg_password_block).get()
    except ValueError:
        raise ValueError(
            f"the postgres target needs its role's password: save it as the Prefect Secret block "
            f"{settings.pg_password_block!r} (./dev up does, from JAFFLE_PG_PASSWORD)"
        ) from None
    return settings.model_copy(update={"pg_password": SecretStr(str(password))})


def _under_warehouse_lock(settings: DbtSettings, build, wait=time.sleep):
    """Build while holding the platform's warehouse slot, whoever started this run (the parent flow, a
    backfill chunk or the UI). The slot is a Prefect lease renewed while this process lives, so it frees
    itself within `warehouse_lease_seconds` of a crash; strict=True makes a missing limit an error. A
    slot request the API does not answer (a server restart) is asked again for up to
    `warehouse_api_patience_seconds`."""
    give_up = time.monotonic() + settings.warehouse_api_patience_seconds
    while True:
        holding, built = False, _NOT_BUILT
        try:
            with concurrency(
                settings.warehouse_limit,
                occupy=1,
                strict=True,
                timeout_seconds=settings.dbt_lock_timeout_seconds,
                lease_duration=settings.warehouse_lease_seconds,
            ):
                holding = True
                built = build()
            return built
        except httpx.TransportError as error:
            # Built, but the slot's release found no API (Prefect asks it with a client that has not
            # connected yet, which does not retry a refused connection): the build stands, and the
            # lease no longer renewed frees the slot within its duration.
            if built is _NOT_BUILT:
                raise
            get_run_logger().warning(
                "Built; the Prefect API did not answer the release of the %r slot (%s): its lease frees "
                "it within %.0f s",
                settings.warehouse_limit,
                type(error).__name__,
                settings.warehouse_lease_seconds,
            )
            return built
        except ConcurrencySlotAcquisitionError as error:
            if holding or not _api_unreachable(error) or time.monotonic() > give_up:
                raise
            get_run_logger().warning(
                "The Prefect API did not answer the %r slot request (%s); asking again",
                settings.warehouse_limit,
                type(error.__cause__).__name__,
            )
            wait(5)
        except TimeoutError as error:
            if holding or isinstance(error, WarehouseBusy):
                raise
            raise WarehouseBusy(
                f"waited {settings.dbt_lock_timeout_seconds:.0f} s for the {settings.warehouse_limit!r} "
                "concurrency slot: another warehouse build held it all that time"
            ) from None


def _build(
    project: str, start_date: date | None, end_date: date | None, full_refresh: bool, docs: bool
) -> dict:
    window = resolve_window(start_date, end_date)
    start, end = window.start, window.end
    settings = with_pg_password(DbtSettings())
    logger = get_run_logger()
    dbt = PrefectDbtRunner(
        settings=PrefectDbtSettings(
            project_dir=runner.project_dir(project),
            profiles_dir=PROJECTS_DIR,
            target_path=settings.artifacts_dir(project) / "target",
        ),
        raise_on_failure=False,  # runner.results_of names every failed node instead
    )
    # Lineage: the marts count as materialized once readers see them (before the docs are made); a
    # build that fails before that is a failed materialization, one that never got the slot is none.
    marts = [d.name for d in DECLARATIONS.produces if d.name.startswith(f"{project}.")]
    published: list[bool] = []

    def announce() -> None:
        published.append(True)
        lineage.emit(DECLARATIONS, marts, "succeeded", window=str(window), full_refresh=full_refresh)

    try:
        outcome = _under_warehouse_lock(
            settings,
            lambda: runner.run(
                project,
                start,
                end,
                full_refresh,
                settings,
                invoke=dbt.invoke,
                docs=docs,
                warn=logger.warning,
                on_published=announce,
            ),
        )
    except Exception as error:
        if not published and not isinstance(error, WarehouseBusy):
            lineage.emit(DECLARATIONS, marts, "failed", window=str(window), error=str(error)[:500])
        raise
    rows = [{"node": r.name, "type": r.resource_type, "status": r.status} for r in outcome.results]
    create_table_artifact(
        key=f"dbt-build-{project.replace('_', '-')}",
        table=rows,
        description=f"dbt build {project} {start}..{end}{' (full refresh)' if full_refresh else ''}",
    )
    if outcome.docs:
        create_link_artifact(
            key=f"dbt-docs-{project.replace('_', '-')}",
            link=outcome.docs.as_uri(),
            link_text=f"dbt docs: {project}",
            description=f"Models, tests and lineage of the {project} dbt project (a static page)",
        )
    phases = ", ".join(f"{phase} {value:.2f} s" for phase, value in outcome.seconds.items())
    logger.info("Built %s dbt nodes of %s (%s target): %s", len(rows), project, settings.dbt_target, phases)
    return {
        "project": project,
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "full_refresh": full_refresh,
        "warehouse": str(outcome.published or f"postgres database {settings.pg_database}"),
        "docs": str(outcome.docs) if outcome.docs else None,
        "nodes": rows,
        "seconds": outcome.seconds,
        "runtime": record_runtime(),
    }


# Both projects' flows take the same parameters, shown the same way in the UI's run form.
FIRST_DAY = parameter(
    None, "First day", "First day whose rows are rebuilt, inclusive. Empty: the last day, or yesterday."
)
LAST_DAY = parameter(
    None, "Last day", "Last day whose rows are rebuilt, inclusive. Empty: the first day, or yesterday."
)
FULL_REFRESH = parameter(
    False, "Full refresh", "Rebuild every incremental model from all of the lake, not only the window."
)
DOCS = parameter(True, "Docs", "Also generate the dbt docs site and link it from the run.")


@flow(name="dbt-jaffle-shop")
def dbt_jaffle_shop(
    start_date: date | None = FIRST_DAY,
    end_date: date | None = LAST_DAY,
    full_refresh: bool = FULL_REFRESH,
    docs: bool = DOCS,
) -> dict:
    """Build the Jaffle Shop staging and marts: stores, products, orders, items, customers, daily revenue."""
    return _build("jaffle_shop", start_date, end_date, full_refresh, docs)


@flow(name="dbt-attribution")
def dbt_attribution(
    start_date: date | None = FIRST_DAY,
    end_date: date | None = LAST_DAY,
    full_refresh: bool = FULL_REFRESH,
    docs: bool = DOCS,
) -> dict:
    """Build marketing staging and attribution marts: touchpoints, campaign attribution, channel ROAS."""
    return _build("attribution", start_date, end_date, full_refresh, docs)
