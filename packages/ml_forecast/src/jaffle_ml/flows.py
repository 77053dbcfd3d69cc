"""ML flows: deployed as `sales-forecast`."""

from __future__ import annotations

import sys
from datetime import date, timedelta
from importlib.metadata import version

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact

from jaffle_ml import forecast
from jaffle_ml.settings import MlSettings


def record_runtime() -> dict[str, str]:
    """Record which interpreter and library versions ran this flow (the isolation evidence)."""
    runtime = {
        "sys_prefix": sys.prefix,
        "python": sys.version.split()[0],
        **{lib: version(lib) for lib in ("prefect", "pandas", "statsforecast", "duckdb")},
    }
    create_table_artifact(
        key="runtime-ml", table=[runtime], description="Interpreter and library versions of this run"
    )
    return runtime


@task(name="forecast-revenue")
def forecast_revenue(as_of: date, horizon_days: int) -> dict:
    """Fit a model per store on the warehouse's daily revenue and write the forecast to the lake."""
    settings = MlSettings()
    history = forecast.load_history(settings.warehouse_path, as_of)
    predicted = forecast.forecast(history, horizon_days)
    path = forecast.write_forecast(predicted, settings.forecasts_dir, as_of)
    totals = predicted.groupby("location_id")["revenue_forecast"].sum().round(2)
    create_table_artifact(
        key="sales-forecast",
        table=[{"store": s, "forecast_revenue": float(v), "days": horizon_days} for s, v in totals.items()],
        description=f"Revenue forecast per store for the {horizon_days} days after {as_of}",
    )
    return {
        "path": str(path),
        "rows": len(predicted),
        "stores": int(predicted["location_id"].nunique()),
        "models": sorted(predicted["model_name"].unique()),
    }


@flow(name="sales-forecast")
def sales_forecast(
    start_date: date | None = None, end_date: date | None = None, horizon_days: int = 14
) -> dict:
    """Forecast each store's daily revenue for the `horizon_days` after `end_date` (default yesterday)."""
    as_of = end_date or date.today() - timedelta(days=1)
    if start_date and as_of < start_date:
        raise ValueError(f"end_date {as_of.isoformat()} is before start_date {start_date.isoformat()}")
    written = forecast_revenue(as_of, horizon_days)
    get_run_logger().info("Forecast %s stores as of %s: %s", written["stores"], as_of, written["path"])
    return {"as_of": as_of.isoformat(), **written, "runtime": record_runtime()}
