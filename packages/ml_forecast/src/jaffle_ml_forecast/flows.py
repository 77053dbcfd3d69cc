"""ML flows: deployed as `sales-forecast`."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from jaffle_contract import runtime
from jaffle_contract.parameters import Bounds, parameter
from jaffle_contract.window import Window, yesterday
from jaffle_data import lineage
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact

from jaffle_ml_forecast import datasets, forecast
from jaffle_ml_forecast.settings import MlSettings

HORIZON = Bounds(1, forecast.MAX_HORIZON_DAYS)


def record_runtime() -> dict[str, str]:
    """Record which interpreter and library versions ran this flow (the isolation evidence)."""
    record = runtime.runtime_record(("prefect", "pandas", "statsforecast", "duckdb"))
    create_table_artifact(
        key=runtime.artifact_key(datasets.DECLARATIONS.team), table=[record], description=runtime.DESCRIPTION
    )
    return record


@task(name="forecast-revenue")
def forecast_revenue(as_of: date, horizon_days: int, stores: list[str] | None) -> dict:
    """Backtest the candidate models per store, forecast with the best, and write both datasets."""
    settings = MlSettings()
    written = [datasets.FORECAST.name, datasets.METRICS.name]
    with lineage.materializing(datasets.DECLARATIONS, written, as_of=as_of.isoformat()):
        history = forecast.load_history(settings.warehouse_path, as_of, stores)
        predicted, metrics = forecast.forecast(history, horizon_days, n_jobs=settings.ml_n_jobs)
        # Both datasets are checked against their declarations before either is written: a run that
        # would break one lands neither.
        forecast_table = datasets.validate(predicted, datasets.FORECAST, as_of)
        metrics_table = datasets.validate(metrics, datasets.METRICS, as_of)
        path = datasets.write(forecast_table, settings.storage, datasets.FORECAST, as_of, stores)
        datasets.write(metrics_table, settings.storage, datasets.METRICS, as_of, stores)
    rows = forecast.summary_rows(metrics, predicted)
    create_table_artifact(
        key="sales-forecast",
        table=rows,
        description=(
            f"Backtest MASE per store and model (lower is better; below 1 beats a seasonal-naive forecast "
            f"in-sample), the chosen model, and its {horizon_days}-day revenue forecast after {as_of}"
        ),
    )
    best, baseline = forecast.mean_mase(metrics)
    return {
        "path": str(path),
        "rows": len(predicted),
        "stores": int(predicted["location_id"].nunique()),
        "models": sorted(predicted["model_name"].unique()),
        "mean_mase_chosen": best,
        "mean_mase_baseline": baseline,
    }


@flow(name="sales-forecast")
def sales_forecast(
    # "The last day is not before the first" is not a JSON schema rule: Window checks it when the run
    # starts, naming both days.
    start_date: date | None = parameter(
        None, "First day", "Only for the run's window; the models train on the year up to the last day."
    ),
    end_date: date | None = parameter(
        None, "Last day", "Forecast from the day after this one. Empty: yesterday."
    ),
    horizon_days: Annotated[int, HORIZON.field] = parameter(
        28, "Horizon (days)", "How many days ahead to forecast.", bounds=HORIZON
    ),
    stores: list[str] | None = parameter(
        None, "Stores", "Store ids to forecast, e.g. store_01. Empty: every store with sales.", free=True
    ),
) -> dict:
    """Forecast each store's daily revenue for the `horizon_days` after `end_date` (default yesterday)."""
    as_of = end_date or yesterday()
    if start_date:
        Window(start_date, as_of)  # the platform's rule: end before start is rejected
    written = forecast_revenue(as_of, horizon_days, stores or None)
    get_run_logger().info(
        "Forecast %s stores as of %s (mean MASE chosen %s vs seasonal naive %s): %s",
        written["stores"],
        as_of,
        written["mean_mase_chosen"],
        written["mean_mase_baseline"],
        written["path"],
    )
    return {"as_of": as_of.isoformat(), **written, "runtime": record_runtime()}
