"""dbt flows: deployed as `dbt-jaffle-shop` and `dbt-attribution`."""

from __future__ import annotations

import sys
from datetime import date, timedelta
from importlib.metadata import version

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact

from jaffle_dbt import runner
from jaffle_dbt.settings import DbtSettings


def resolve_window(start_date: date | None, end_date: date | None) -> tuple[date, date]:
    """Default to yesterday, decided when the run starts (never at import time)."""
    yesterday = date.today() - timedelta(days=1)
    start, end = start_date or end_date or yesterday, end_date or start_date or yesterday
    if end < start:
        raise ValueError(f"end_date {end.isoformat()} is before start_date {start.isoformat()}")
    return start, end


def record_runtime() -> dict[str, str]:
    """Record which interpreter and library versions ran this flow (the isolation evidence)."""
    runtime = {
        "sys_prefix": sys.prefix,
        "python": sys.version.split()[0],
        **{lib: version(lib) for lib in ("prefect", "dbt-core", "dbt-duckdb", "duckdb", "protobuf")},
    }
    create_table_artifact(
        key="runtime-dbt", table=[runtime], description="Interpreter and library versions of this run"
    )
    return runtime


@task(name="dbt-build", task_run_name="dbt-build-{selection}")
def dbt_build(selection: str, start: date, end: date) -> list[dict]:
    """Run `dbt build` (models and their data tests) for one selection of the project."""
    results = runner.build(selection, start, end, DbtSettings())
    rows = [{"node": r.name, "type": r.resource_type, "status": r.status} for r in results]
    create_table_artifact(
        key=f"dbt-build-{selection.replace('_', '-')}",
        table=rows,
        description=f"dbt build {selection}: every model and test",
    )
    return rows


def _build(selection: str, start_date: date | None, end_date: date | None) -> dict:
    start, end = resolve_window(start_date, end_date)
    rows = dbt_build(selection, start, end)
    settings = DbtSettings()
    get_run_logger().info("Built %s nodes of %s into %s", len(rows), selection, settings.warehouse_path)
    return {
        "selection": selection,
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "warehouse": str(settings.warehouse_path),
        "nodes": rows,
        "runtime": record_runtime(),
    }


@flow(name="dbt-jaffle-shop")
def dbt_jaffle_shop(start_date: date | None = None, end_date: date | None = None) -> dict:
    """Build the Jaffle Shop staging views and marts (orders, customers, daily store revenue)."""
    return _build("jaffle_shop", start_date, end_date)


@flow(name="dbt-attribution")
def dbt_attribution(start_date: date | None = None, end_date: date | None = None) -> dict:
    """Build the marketing staging views and attribution marts (attributed orders, channel performance)."""
    return _build("attribution", start_date, end_date)
