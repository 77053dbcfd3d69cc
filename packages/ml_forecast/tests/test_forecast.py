from __future__ import annotations

from datetime import date, timedelta

import duckdb
import numpy as np
import pandas as pd
import pytest
from jaffle_ml import forecast
from jaffle_ml.flows import sales_forecast
from prefect.testing.utilities import prefect_test_harness

START = date(2020, 1, 6)  # a Monday


def _revenue(days: int, store: str, level: float) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    dates = [START + timedelta(days=i) for i in range(days)]
    weekly = np.array([0.8, 0.9, 1.0, 1.0, 1.2, 1.5, 1.3])
    y = [level * weekly[d.weekday()] * rng.normal(1, 0.03) for d in dates]
    return pd.DataFrame({"order_date": dates, "location_id": store, "revenue": y})


@pytest.fixture
def warehouse(tmp_path, monkeypatch):
    monkeypatch.setenv("JAFFLE_DATA_DIR", str(tmp_path))
    path = tmp_path / "warehouse" / "jaffle_shop.duckdb"
    path.parent.mkdir(parents=True)
    revenue = pd.concat([_revenue(70, "store-001", 1000.0), _revenue(5, "store-002", 300.0)])
    with duckdb.connect(str(path)) as con:
        con.register("revenue", revenue)
        con.execute("create table daily_store_revenue as select * from revenue")
    return tmp_path


def test_seasonal_stores_get_a_weekly_shape_and_young_stores_an_average(warehouse):
    history = forecast.load_history(
        warehouse / "warehouse" / "jaffle_shop.duckdb", START + timedelta(days=69)
    )
    result = forecast.forecast(history, 14)
    mature = result[result["location_id"] == "store-001"].set_index("forecast_date")
    assert len(mature) == 14 and set(mature["model_name"]) == {"AutoETS"}
    by_weekday = mature["revenue_forecast"].groupby(lambda d: d.weekday()).mean()
    assert by_weekday[5] > by_weekday[0] * 1.4  # Saturdays sell ~1.9x Mondays in the history
    young = result[result["location_id"] == "store-002"]
    assert set(young["model_name"]) == {"HistoricAverage"}
    assert (result["revenue_lo_80"] <= result["revenue_forecast"]).all()
    assert (result["revenue_forecast"] <= result["revenue_hi_80"]).all()


def test_missing_days_count_as_zero_revenue():
    history = pd.DataFrame(
        {"unique_id": "s", "ds": pd.to_datetime(["2020-01-01", "2020-01-03"]), "y": [5.0, 7.0]}
    )
    assert forecast.fill_gaps(history)["y"].tolist() == [5.0, 0.0, 7.0]


def test_flow_writes_an_as_of_partition_and_reruns_replace_it(warehouse):
    with prefect_test_harness():
        as_of = START + timedelta(days=69)
        result = sales_forecast(end_date=as_of, horizon_days=7)
        again = sales_forecast(end_date=as_of, horizon_days=7)
    written = pd.read_parquet(result["path"])
    assert result["path"] == again["path"]
    assert len(written) == 14 and set(written["location_id"]) == {"store-001", "store-002"}
    assert result["runtime"]["pandas"].startswith("2.")
    assert not list((warehouse / "lake").rglob("*.tmp"))


def test_no_warehouse_is_a_clear_error(tmp_path):
    with pytest.raises(forecast.NoHistoryError, match="run the dbt-jaffle-shop flow first"):
        forecast.load_history(tmp_path / "missing.duckdb", START)
