"""The dashboard's plain functions: headline numbers, per-store totals, the page's atomic writes."""

from __future__ import annotations

from datetime import date

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
    assert "| revenue | 0.0 |" in markdown and "| roas linear | 0.0 |" in markdown
    assert "- **forecast**: no forecast as of 2024-03-02" in markdown


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
