from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd
import pytest
from jaffle_dashboards.flows import dashboards
from prefect.testing.utilities import prefect_test_harness


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("JAFFLE_DATA_DIR", str(tmp_path))
    (tmp_path / "warehouse").mkdir()
    with duckdb.connect(str(tmp_path / "warehouse" / "jaffle_shop.duckdb")) as con:
        con.execute("""create table daily_store_revenue as select * from (values
            (date '2020-03-01', 'store-001', 'Philadelphia', 100.0, 10),
            (date '2020-03-02', 'store-001', 'Philadelphia', 150.5, 12),
            (date '2020-03-02', 'store-002', 'Brooklyn', 40.0, 4),
            (date '2020-04-01', 'store-002', 'Brooklyn', 999.0, 99))
            t(order_date, location_id, location_name, revenue, count_orders)""")
    with duckdb.connect(str(tmp_path / "warehouse" / "attribution.duckdb")) as con:
        con.execute("""create table channel_performance as select * from (values
            (date '2020-03-01', 'paid_search', 25.0, 30, 2.0, 35.0))
            t(activity_date, channel, spend, count_sessions, linear_orders, linear_revenue)""")
    forecast_dir = tmp_path / "lake" / "ml" / "revenue_forecast" / "as_of=2020-03-02"
    forecast_dir.mkdir(parents=True)
    pd.DataFrame(
        {"location_id": ["store-001"], "forecast_date": [date(2020, 3, 3)], "revenue_forecast": [120.0]}
    ).to_parquet(forecast_dir / "part-0.parquet")
    return tmp_path


def test_dashboard_page_shows_the_window_and_works_offline(data_dir):
    with prefect_test_harness():
        result = dashboards(date(2020, 3, 1), date(2020, 3, 2))
    page = (data_dir / "dashboards" / "index.html").read_text()
    assert result["kpis"] == {
        "revenue": 290.5,
        "orders": 26,
        "stores": 2,
        "ad_spend": 25.0,
        "attributed_revenue": 35.0,
        "forecast_revenue": 120.0,
    }
    assert "Daily revenue per store" in page and "Revenue forecast as of 2020-03-02" in page
    assert "Brooklyn" in page
    # plotly.js is embedded exactly once and nothing is fetched from a CDN.
    assert page.count("<script>/**") == 1
    assert 'src="https://cdn.plot.ly' not in page
    assert not list((data_dir / "dashboards").glob("*.tmp"))


def test_missing_warehouse_names_the_flow_to_run(tmp_path, monkeypatch):
    monkeypatch.setenv("JAFFLE_DATA_DIR", str(tmp_path))
    with prefect_test_harness(), pytest.raises(FileNotFoundError, match="run the dbt-jaffle-shop flow first"):
        dashboards(date(2020, 3, 1), date(2020, 3, 2))
