from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from jaffle_dashboards.flows import dashboards
from prefect.artifacts import Artifact


def test_the_dashboard_shows_every_section_with_the_windows_numbers(data_dir):
    result = dashboards(date(2020, 3, 1), date(2020, 3, 14))

    assert result["kpis"] == {
        "revenue": 5040.0,  # 14 days x (100 + 200), plus 2 stores x 10 x (0+1+...+6) x 2 weeks
        "orders": 2 * sum(10 + i for i in range(14)),
        "stores": 2,
        "ad_spend": 50.0,
        "attributed_revenue": 72.5,
        "roas_linear": 1.45,
        "forecast_revenue": 7 * (120.0 + 230.0),
    }
    assert result["missing"] == {}
    latest = data_dir / "dashboards" / "latest.html"
    page = latest.read_text()
    for section in ("revenue", "channels-0", "channels-1", "products", "cohorts"):
        assert f'data-section="{section}"' in page
    assert "Data freshness" in page and "raw/jaffle_shop/orders" in page and "date=2020-03-14" in page
    assert "as_of=2020-03-14" in page
    # plotly.js is embedded exactly once and nothing is fetched from a CDN.
    assert page.count("<script>/**") == 1 and 'src="https://cdn.plot.ly' not in page
    versions = list((data_dir / "dashboards" / "versions").glob("*_2020-03-01_2020-03-14.html"))
    assert len(versions) == 1 and versions[0].read_text() == page
    assert not list((data_dir / "dashboards").rglob("*.tmp"))

    summary = Artifact.get("jaffle-shop-dashboard").data
    assert "| revenue | 5,040.0 |" in summary
    assert latest.resolve().as_uri() in Artifact.get("jaffle-shop-dashboard-link").data
    table = Artifact.get("jaffle-shop-revenue-by-store").data
    rows = json.loads(table) if isinstance(table, str) else table
    assert {r["location_id"] for r in rows} == {"store-001", "store-002"}


def test_missing_forecasts_and_an_empty_window_say_what_is_missing(data_dir):
    for partition in (data_dir / "lake" / "ml" / "revenue_forecast").glob("as_of=*/part-0.parquet"):
        partition.unlink()
    result = dashboards(date(2021, 1, 1), date(2021, 1, 7))

    page = (data_dir / "dashboards" / "latest.html").read_text()
    assert "daily_store_revenue has no rows from 2021-01-01 to 2021-01-07" in page
    assert "run sales-forecast" in page
    assert set(result["missing"]) >= {"revenue", "forecast", "products", "cohorts", "channels"}
    assert "Missing from this dashboard" in Artifact.get("jaffle-shop-dashboard").data


def test_a_missing_warehouse_renders_a_page_naming_the_flow_to_run(tmp_path, monkeypatch):
    monkeypatch.setenv("JAFFLE_DATA_DIR", str(tmp_path))
    result = dashboards(date(2020, 3, 1), date(2020, 3, 2), output_dir="out")
    page = (tmp_path / "out" / "latest.html").read_text()
    assert "run the dbt-jaffle-shop flow first" in page and "run dbt-attribution" in page
    assert result["kpis"]["revenue"] == 0.0


def test_end_before_start_is_rejected(tmp_path, monkeypatch):
    monkeypatch.setenv("JAFFLE_DATA_DIR", str(tmp_path))
    with pytest.raises(ValueError, match="end_date 2020-03-01 is before start_date 2020-03-02"):
        dashboards(date(2020, 3, 2), date(2020, 3, 1))


@pytest.mark.parametrize("outside", ["/etc/x", "../../x", "dashboards/../../x"])
def test_an_output_folder_outside_the_data_folder_is_rejected_and_nothing_is_written(
    tmp_path, monkeypatch, outside
):
    data = tmp_path / "data"
    monkeypatch.setenv("JAFFLE_DATA_DIR", str(data))
    with pytest.raises(ValueError, match=f"'{outside}' is outside the data folder {data}"):
        dashboards(date(2020, 3, 1), date(2020, 3, 2), output_dir=outside)
    assert not list(tmp_path.rglob("*.html")) and not Path("/etc/x").exists()


def test_the_published_pages_are_readable_by_everyone(data_dir):
    dashboards(date(2020, 3, 1), date(2020, 3, 14), output_dir="published/dash")
    pages = list((data_dir / "published" / "dash").rglob("*.html"))
    assert len(pages) == 2  # latest.html and its version
    for page in pages:
        assert page.stat().st_mode & 0o777 == 0o644, (page, oct(page.stat().st_mode))
