"""The dashboard's plain functions: headline numbers, per-store totals, the page's atomic writes."""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd
from jaffle_dashboards import render
from jaffle_data.storage import Storage

START, END = date(2024, 3, 1), date(2024, 3, 2)
REVENUE = pd.DataFrame(
    {
        "order_date": [START, END, START],
        "location_id": ["s1", "s1", "s2"],
        "location_name": ["Lisbon", "Lisbon", "Porto"],
        "revenue": [100.0, 50.255, 20.0],
        "count_orders": [4, 2, 1],
    }
)
CHANNELS = pd.DataFrame(
    {"channel": ["email", "paid_search"], "spend": [10.0, 30.0], "linear_revenue": [60.0, 20.0]}
)


def test_headline_numbers_add_up_the_window():
    data = render.DashboardData(START, END, revenue=REVENUE, channels=CHANNELS)
    assert render.kpis(data) == {
        "revenue": 170.25,
        "orders": 7,
        "stores": 2,
        "ad_spend": 40.0,
        "attributed_revenue": 80.0,
        "roas_linear": 2.0,
        "forecast_revenue": 0.0,
    }


def test_an_empty_window_has_zero_headlines_and_says_what_is_missing():
    data = render.DashboardData(START, END, missing={"forecast": "no forecast as of 2024-03-02"})
    markdown = render.headline_markdown(data, START, END)
    assert "| revenue | $0.00 |" in markdown and "| orders | 0 |" in markdown
    assert "| roas linear | n/a |" in markdown  # no marketing data: not a ratio of 0
    assert "- **forecast**: no forecast as of 2024-03-02" in markdown


def test_money_is_shown_as_money_and_counts_with_separators():
    data = render.DashboardData(START, END, revenue=REVENUE, channels=CHANNELS)
    shown = {key: render.shown(key, value) for key, value in render.kpis(data).items()}
    assert shown["revenue"] == "$170.25" and shown["ad_spend"] == "$40.00"
    assert shown["orders"] == "7" and shown["roas_linear"] == "2.00"
    assert render.shown("revenue", 4059468.0) == "$4,059,468.00"
    assert render.shown("orders", 388056) == "388,056"


def _attribution(path, sessions: int, revenue: float) -> None:
    """An attribution warehouse with one channel_performance row per channel."""
    with duckdb.connect(str(path)) as con:
        con.execute(
            """create table channel_performance as select * from (values
               (DATE '2024-03-01', 'email', 10.0, ?, ?, ?, ?, 1),
               (DATE '2024-03-02', 'paid_search', 30.0, ?, ?, ?, ?, 1))
               t(activity_date, channel, spend, count_sessions, first_touch_revenue, last_touch_revenue,
                 linear_revenue, linear_orders)""",
            [sessions, revenue, revenue, revenue] * 2,
        )


def test_attribution_without_web_sessions_says_so_instead_of_empty_charts(tmp_path):
    storage = Storage(tmp_path)
    sources = render.Sources(tmp_path / "none.duckdb", tmp_path / "attribution.duckdb", storage)
    _attribution(sources.attribution, sessions=0, revenue=0.0)
    data = render.load(sources, START, END)
    assert data.missing["channels"].startswith("the landed data has no web sessions from 2024-03-01")
    assert "marketing data" in data.missing["channels"]
    kpis = render.kpis(data)
    assert kpis["attributed_revenue"] is None and kpis["roas_linear"] is None and kpis["ad_spend"] is None
    page = render.render(data)
    assert 'data-section="channels' not in page and 'data-missing="channels"' in page


def test_sessions_that_led_to_no_order_say_there_is_nothing_to_attribute(tmp_path):
    sources = render.Sources(tmp_path / "none.duckdb", tmp_path / "attribution.duckdb", Storage(tmp_path))
    _attribution(sources.attribution, sessions=5, revenue=0.0)
    data = render.load(sources, START, END)
    assert "led to an order" in data.missing["channels"]
    _attribution(tmp_path / "with-revenue.duckdb", sessions=5, revenue=12.5)
    attributed = render.load(
        render.Sources(sources.warehouse, tmp_path / "with-revenue.duckdb", sources.storage), START, END
    )
    assert "channels" not in attributed.missing and render.kpis(attributed)["attributed_revenue"] == 25.0


def test_revenue_by_store_sums_each_store_over_the_window():
    data = render.DashboardData(START, END, revenue=REVENUE)
    assert render.revenue_by_store(data) == [
        {"location_id": "s1", "location_name": "Lisbon", "revenue": 150.26, "orders": 6},
        {"location_id": "s2", "location_name": "Porto", "revenue": 20.0, "orders": 1},
    ]


def test_a_page_is_written_as_a_version_and_as_latest_with_no_scratch_files_left(tmp_path):
    storage = Storage(tmp_path)
    version, latest = render.write_page("<html>one</html>", storage, "out", START, END, "20240303T000000Z")
    assert storage.read_bytes(version) == storage.read_bytes(latest) == b"<html>one</html>"
    render.write_page("<html>two</html>", storage, "out", START, END, "20240304T000000Z")
    assert (
        storage.read_bytes(latest) == b"<html>two</html>"
        and storage.read_bytes(version) == b"<html>one</html>"
    )
    assert (tmp_path / "out/latest.html").stat().st_mode & 0o777 == 0o644
    assert not list(tmp_path.rglob("*.tmp"))
