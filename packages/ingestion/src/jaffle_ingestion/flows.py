"""Ingestion flows: deployed as `raw-data-jaffle-shop` and `raw-data-marketing`."""

from __future__ import annotations

import sys
from datetime import date, timedelta
from importlib.metadata import version

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact

from jaffle_ingestion import landing, synthetic
from jaffle_ingestion.settings import IngestionSettings


def resolve_window(start_date: date | None, end_date: date | None) -> tuple[date, date]:
    """Default to yesterday, decided when the run starts (never at import time)."""
    yesterday = date.today() - timedelta(days=1)
    start, end = start_date or end_date or yesterday, end_date or start_date or yesterday
    if end < start:
        raise ValueError(f"end_date {end.isoformat()} is before start_date {start.isoformat()}")
    synthetic.check_day(start)
    return start, end


def record_runtime() -> dict[str, str]:
    """Record which interpreter and library versions ran this flow (the isolation evidence)."""
    runtime = {
        "sys_prefix": sys.prefix,
        "python": sys.version.split()[0],
        **{lib: version(lib) for lib in ("prefect", "pandas", "pyarrow")},
    }
    create_table_artifact(
        key="runtime-ingestion", table=[runtime], description="Interpreter and library versions of this run"
    )
    return runtime


@task(name="land-reference-tables")
def land_reference(config: synthetic.ShopConfig) -> dict[str, int]:
    """Write the stores, products and supplies reference tables."""
    return landing.land_reference(config, IngestionSettings().lake_dir)


@task(name="land-day", task_run_name="land-{source}-{day}")
def land_day(config: synthetic.ShopConfig, source: str, day: date) -> dict[str, int]:
    """Generate one day of a source and write its partitions atomically."""
    return landing.land_day(config, IngestionSettings().lake_dir, source, day)


def _ingest(source: str, start_date: date | None, end_date: date | None) -> dict:
    start, end = resolve_window(start_date, end_date)
    settings = IngestionSettings()
    config = synthetic.ShopConfig(
        seed=settings.seed, orders_per_day=settings.orders_per_day, stores=settings.stores
    )
    totals: dict[str, int] = {}
    if source == "jaffle_shop":
        totals.update(land_reference(config))
    for day in synthetic.days(start, end):
        for table, rows in land_day(config, source, day).items():
            totals[table] = totals.get(table, 0) + rows
    get_run_logger().info("Landed %s %s..%s in %s: %s", source, start, end, settings.lake_dir, totals)
    create_table_artifact(
        key=f"landed-{source.replace('_', '-')}",
        table=[{"table": t, "rows": n} for t, n in totals.items()],
        description=f"Rows landed for {source}, {start} to {end}",
    )
    return {
        "source": source,
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "rows": totals,
        "runtime": record_runtime(),
    }


@flow(name="raw-data-jaffle-shop")
def raw_data_jaffle_shop(start_date: date | None = None, end_date: date | None = None) -> dict:
    """Land the Jaffle Shop's stores, customers, products, supplies, orders and order items."""
    return _ingest("jaffle_shop", start_date, end_date)


@flow(name="raw-data-marketing")
def raw_data_marketing(start_date: date | None = None, end_date: date | None = None) -> dict:
    """Land marketing ad spend per channel and campaign, and web sessions, per day."""
    return _ingest("marketing", start_date, end_date)
