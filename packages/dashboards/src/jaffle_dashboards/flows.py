"""Dashboards flows: deployed as `dashboards`."""

from __future__ import annotations

import sys
from datetime import date, timedelta
from importlib.metadata import version

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from jaffle_dashboards import render
from jaffle_dashboards.settings import DashboardSettings


def record_runtime() -> dict[str, str]:
    """Record which interpreter and library versions ran this flow (the isolation evidence)."""
    runtime = {
        "sys_prefix": sys.prefix,
        "python": sys.version.split()[0],
        **{lib: version(lib) for lib in ("prefect", "pandas", "plotly", "duckdb")},
    }
    create_table_artifact(
        key="runtime-dashboards", table=[runtime], description="Interpreter and library versions of this run"
    )
    return runtime


@task(name="render-dashboard")
def render_dashboard(start: date, end: date) -> dict:
    """Read the marts and the latest forecast, and write the HTML dashboard atomically."""
    settings = DashboardSettings()
    data = render.load(settings.warehouse_path, settings.forecasts_dir, start, end, settings.attribution_path)
    path = render.write_page(render.render(data, start, end), settings.output_path)
    numbers = render.kpis(data)
    create_markdown_artifact(
        key="jaffle-shop-dashboard",
        markdown="\n".join(
            [
                f"# Jaffle Shop, {start} to {end}",
                "",
                "| measure | value |",
                "| --- | --- |",
                *[f"| {k.replace('_', ' ')} | {v:,} |" for k, v in numbers.items()],
                "",
                f"Dashboard: `{path.resolve()}`",
            ]
        ),
        description="Headline numbers of the dashboard",
    )
    return {"path": str(path), "kpis": numbers}


@flow(name="dashboards")
def dashboards(start_date: date | None = None, end_date: date | None = None) -> dict:
    """Render the Jaffle Shop dashboard (revenue, forecast, marketing) for a window of days."""
    end = end_date or date.today() - timedelta(days=1)
    start = start_date or end - timedelta(days=89)
    if end < start:
        raise ValueError(f"end_date {end.isoformat()} is before start_date {start.isoformat()}")
    written = render_dashboard(start, end)
    get_run_logger().info("Dashboard written to %s", written["path"])
    return {**written, "runtime": record_runtime()}
