"""Per-store daily revenue forecasts with statsforecast; plain functions, no orchestration."""

from __future__ import annotations

import os
import tempfile
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
from statsforecast import StatsForecast
from statsforecast.models import AutoETS, HistoricAverage

SEASON = 7  # weekly seasonality dominates daily store revenue
MIN_SEASONAL_HISTORY = 3 * SEASON


class NoHistoryError(LookupError):
    """The warehouse has no revenue to learn from."""


def load_history(warehouse: Path, as_of: date) -> pd.DataFrame:
    """Daily revenue per store up to `as_of`, in statsforecast's long format (unique_id, ds, y)."""
    if not warehouse.exists():
        raise NoHistoryError(f"no warehouse at {warehouse}: run the dbt-jaffle-shop flow first")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        history = con.execute(
            """select location_id as unique_id, cast(order_date as timestamp) as ds, revenue as y
               from daily_store_revenue where order_date <= ? order by 1, 2""",
            [as_of],
        ).df()
    if history.empty:
        raise NoHistoryError(f"daily_store_revenue has no rows up to {as_of.isoformat()}")
    return history


def fill_gaps(history: pd.DataFrame) -> pd.DataFrame:
    """Give every store a row for every day since its first sale (a day without orders earned 0)."""
    frames = []
    for store, series in history.groupby("unique_id"):
        days = pd.date_range(series["ds"].min(), series["ds"].max(), freq="D")
        filled = series.set_index("ds")["y"].reindex(days, fill_value=0.0)
        frames.append(pd.DataFrame({"unique_id": store, "ds": days, "y": filled.to_numpy()}))
    return pd.concat(frames, ignore_index=True)


def forecast(history: pd.DataFrame, horizon_days: int) -> pd.DataFrame:
    """Forecast each store `horizon_days` ahead with an 80% interval.

    Stores with three weeks of history get a seasonal exponential-smoothing model; younger stores
    (or a platform asked about a single day) fall back to their historic average.
    """
    if horizon_days < 1:
        raise ValueError(f"horizon_days must be at least 1, got {horizon_days}")
    history = fill_gaps(history)
    lengths = history.groupby("unique_id").size()
    outputs = []
    for seasonal, stores in lengths.groupby(lengths >= MIN_SEASONAL_HISTORY):
        model = AutoETS(season_length=SEASON, alias="model") if seasonal else HistoricAverage(alias="model")
        subset = history[history["unique_id"].isin(stores.index)]
        predicted = StatsForecast(models=[model], freq="D", n_jobs=1).forecast(
            df=subset, h=horizon_days, level=[80]
        )
        predicted["model_name"] = "AutoETS" if seasonal else "HistoricAverage"
        outputs.append(predicted)
    result = pd.concat(outputs, ignore_index=True)
    return pd.DataFrame(
        {
            "location_id": result["unique_id"],
            "forecast_date": pd.to_datetime(result["ds"]).dt.date,
            "model_name": result["model_name"],
            "revenue_forecast": result["model"].clip(lower=0),
            "revenue_lo_80": result["model-lo-80"].clip(lower=0),
            "revenue_hi_80": result["model-hi-80"].clip(lower=0),
        }
    ).sort_values(["location_id", "forecast_date"], ignore_index=True)


def write_forecast(frame: pd.DataFrame, forecasts_dir: Path, as_of: date) -> Path:
    """Write one as-of partition atomically (temporary file, then rename over the target)."""
    target = forecasts_dir / f"as_of={as_of.isoformat()}" / "part-0.parquet"
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, scratch = tempfile.mkstemp(prefix=".part-", suffix=".tmp", dir=target.parent)
    os.close(handle)
    try:
        frame.assign(as_of=as_of).to_parquet(scratch, index=False)
        os.replace(scratch, target)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise
    return target
