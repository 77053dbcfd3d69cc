from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from jaffle_contract import contracts
from prefect.testing.utilities import prefect_test_harness

START = date(2020, 3, 1)
STORES = {"store-001": "Philadelphia", "store-002": "Brooklyn"}
# The producers' declarations, read from the workspace's sources (this environment has neither the dbt
# nor the ML package): every fixture table below takes its producer's declared columns and types.
PRODUCERS = contracts.producers(contracts.load_all(Path(__file__).resolve().parents[3]))


def as_declared(con: duckdb.DuckDBPyConnection, dataset: str, frame: pd.DataFrame) -> None:
    """Create `frame` as the table of `dataset`, shaped as its producer declares it."""
    _, declared = PRODUCERS[dataset]
    con.register("frame", frame)
    table = dataset.rsplit(".", 1)[1]
    con.execute(f"create table {table} as {contracts.select_as_declared(declared, 'frame', frame.columns)}")
    con.unregister("frame")


@pytest.fixture(scope="session", autouse=True)
def prefect_api():
    with prefect_test_harness(server_startup_timeout=120):
        yield


def daily_revenue() -> pd.DataFrame:
    rows = []
    for i in range(14):
        day = START + timedelta(days=i)
        for n, (store, name) in enumerate(STORES.items()):
            rows.append((day, store, name, 100.0 * (n + 1) + 10 * (i % 7), 10 + i))
    return pd.DataFrame(
        rows, columns=["order_date", "location_id", "location_name", "revenue", "count_orders"]
    )


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """Published warehouses, a forecast and raw partitions shaped like the other teams' datasets."""
    monkeypatch.setenv("JAFFLE_DATA_DIR", str(tmp_path))
    (tmp_path / "warehouse").mkdir()
    revenue = daily_revenue()
    orders = pd.DataFrame(
        {
            "order_id": [f"o{i}" for i in range(6)],
            "customer_id": ["c1", "c2", "c1", "c3", "c2", "c1"],
            "order_date": [START + timedelta(days=d) for d in (0, 1, 2, 8, 9, 10)],
            "subtotal": [10.0, 20.0, 30.0, 40.0, 50.0, 60.0],
        }
    )
    customers = pd.DataFrame(
        {
            "customer_id": ["c1", "c2", "c3"],
            "first_ordered_at": pd.to_datetime(["2020-01-15", "2020-03-02", "2020-03-09"]),
        }
    )
    items = pd.DataFrame(
        {
            "order_item_id": ["o0-1", "o0-2", "o0-3"],
            "order_date": [START] * 3,
            "product_name": ["nutellaphone who dis?", "tangaroo", "doctor stew"],
            "product_type": ["jaffle", "beverage", "jaffle"],
            "line_total": [110.0, 60.0, 220.0],
            "quantity": [10, 10, 20],
        }
    )
    with duckdb.connect(str(tmp_path / "warehouse" / "jaffle_shop.duckdb")) as con:
        for name, frame in {
            "daily_store_revenue": revenue,
            "orders": orders,
            "customers": customers,
            "order_items": items,
        }.items():
            as_declared(con, f"jaffle_shop.{name}", frame)
    channels = pd.DataFrame(
        {
            "activity_date": [START, START, START + timedelta(days=1)],
            "channel": ["paid_search", "email", "paid_search"],
            "spend": [25.0, 0.0, 25.0],
            "count_sessions": [30, 10, 20],
            "first_touch_revenue": [40.0, 10.0, 20.0],
            "last_touch_revenue": [30.0, 20.0, 25.0],
            "linear_revenue": [35.0, 15.0, 22.5],
            "linear_orders": [2.0, 1.0, 1.0],
        }
    )
    with duckdb.connect(str(tmp_path / "warehouse" / "attribution.duckdb")) as con:
        as_declared(con, "attribution.channel_performance", channels)
    as_of = START + timedelta(days=13)
    forecast_dir = tmp_path / "lake" / "ml" / "revenue_forecast" / f"as_of={as_of}"
    forecast_dir.mkdir(parents=True)
    days = [as_of + timedelta(days=d) for d in range(1, 8)]
    forecast = pd.concat(
        [
            pd.DataFrame(
                {
                    "location_id": store,
                    "forecast_date": days,
                    "model_name": "AutoETS",
                    "revenue_forecast": base,
                    "revenue_lo_80": base * 0.9,
                    "revenue_hi_80": base * 1.1,
                    "revenue_lo_95": base * 0.8,
                    "revenue_hi_95": base * 1.2,
                }
            )
            for store, base in (("store-001", np.full(7, 120.0)), ("store-002", np.full(7, 230.0)))
        ]
    )
    _, declared = PRODUCERS["ml.revenue_forecast"]
    forecast = forecast.assign(as_of=as_of)
    duckdb.register("forecast", forecast)
    duckdb.sql(contracts.select_as_declared(declared, "forecast", forecast.columns)).write_parquet(
        str(forecast_dir / "part-0.parquet")
    )
    raw = tmp_path / "lake" / "raw" / "jaffle_shop" / "orders" / "date=2020-03-14"
    raw.mkdir(parents=True)
    (raw / "part-0.parquet").write_bytes(b"x")
    return tmp_path
