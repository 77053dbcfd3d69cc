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
    assert "| revenue | $5,040.00 |" in summary
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
    with pytest.raises(ValueError, match=f"'{outside}' is outside the data folder"):
        dashboards(date(2020, 3, 1), date(2020, 3, 2), output_dir=outside)
    assert not list(tmp_path.rglob("*.html")) and not Path("/etc/x").exists()


def test_the_published_pages_are_readable_by_everyone(data_dir):
    dashboards(date(2020, 3, 1), date(2020, 3, 14), output_dir="published/dash")
    pages = list((data_dir / "published" / "dash").rglob("*.html"))
    assert len(pages) == 3  # latest.html, its version and the lineage view
    for page in pages:
        assert page.stat().st_mode & 0o777 == 0o644, (page, oct(page.stat().st_mode))


ROOT = Path(__file__).resolve().parents[3]


def _materializations(count: int) -> list:
    """Poll the events API until it holds `count` dataset materializations (they arrive in batches)."""
    import time

    from jaffle_dashboards.flows import read_materializations

    deadline = time.monotonic() + 60
    while True:
        found = read_materializations.fn()
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def _alert_arrived(subject: str) -> None:
    """Poll the events API until it holds the alert (an event is sent in the background)."""
    import time

    from jaffle_dashboards.flows import read_alerts

    deadline = time.monotonic() + 60
    while not any(a.subject == subject for a in read_alerts.fn()[0]) and time.monotonic() < deadline:
        time.sleep(0.5)


def test_the_lineage_view_draws_what_the_teams_runs_reported_and_links_it_from_an_artifact(data_dir):
    from jaffle_contract import contracts
    from jaffle_data import lineage
    from prefect import flow
    from prefect.events import emit_event

    declared = {d.team: d for d in contracts.load_all(ROOT)}

    @flow(name="a-forecast-run")
    def forecast_run():
        forecasts = ["ml.revenue_forecast", "ml.forecast_metrics"]
        with lineage.materializing(declared["ml-forecast"], forecasts, as_of="x"):
            pass

    @flow(name="a-warehouse-run-that-fails")
    def failing_build():
        with lineage.materializing(declared["dbt-transform"], ["jaffle_shop.daily_store_revenue"]):
            raise RuntimeError("dbt build jaffle_shop failed: model daily_store_revenue: error")

    before = len(_materializations(0))
    forecast_run()
    with pytest.raises(RuntimeError):
        failing_build(return_state=False)
    # the failure's alert, as the coordinator sends it (coordinator/src/jaffle_coordinator/alerts.py)
    subject = "[dbt-transform] dbt-jaffle-shop 2020-03-14 ended Failed"
    emit_event(
        "jaffle.alert.failed",
        resource={"prefect.resource.id": "jaffle.alert.test", "jaffle.owner": "dbt-transform"},
        payload={
            "subject": subject,
            "owner": "dbt-transform",
            "url": "http://ui/runs/flow-run/dbt",
            "held_back_datasets": ["jaffle_shop.daily_store_revenue", "ml.revenue_forecast"],
        },
    )
    found = _materializations(before + 3)
    _alert_arrived(subject)
    assert len(found) == before + 3
    forecast = next(m for m in found if m.dataset == "ml.revenue_forecast")
    assert forecast.owner == "ml-forecast" and forecast.upstream == ["jaffle_shop.daily_store_revenue"]
    assert forecast.run_url and "/runs/flow-run/" in forecast.run_url

    result = dashboards(date(2020, 3, 1), date(2020, 3, 14))
    page = (data_dir / "dashboards" / "lineage.html").read_text()
    assert result["lineage"]["path"] == str(data_dir / "dashboards" / "lineage.html")
    for dataset, state in (
        ("ml.revenue_forecast", "fresh"),
        ("ml.forecast_metrics", "fresh"),
        ("jaffle_shop.daily_store_revenue", "failed"),
        ("dashboards.dashboard", "fresh"),  # this run's own, counted before it reaches the server
        ("attribution.channel_performance", "unknown"),  # only named as an upstream so far
    ):
        assert f'<g class="node {state}" data-dataset="{dataset}"' in page, dataset
    assert 'data-from="jaffle_shop.daily_store_revenue" data-to="ml.revenue_forecast"' in page
    # the alert holds back both (the forecast last succeeded before it), and not the dashboard drawn since
    assert set(result["lineage"]["open_alerts"]) == {"jaffle_shop.daily_store_revenue", "ml.revenue_forecast"}
    assert f'dbt-transform: <a href="http://ui/runs/flow-run/dbt">{subject}</a>' in page
    assert 'data-from="ml.revenue_forecast" data-to="dashboards.dashboard"' in page
    kept = json.loads((data_dir / "dashboards" / "lineage.json").read_text())
    assert {"ml.revenue_forecast", "jaffle_shop.daily_store_revenue", "dashboards.dashboard"} <= {
        k["dataset"] for k in kept
    }
    assert (data_dir / "dashboards" / "lineage.html").resolve().as_uri() in Artifact.get(
        "jaffle-lineage-view"
    ).data


def test_a_dashboard_that_cannot_be_drawn_fails_and_the_lineage_view_shows_it_failed(data_dir):
    # A warehouse file torn by a full disk: the dashboard cannot read its marts.
    (data_dir / "warehouse" / "jaffle_shop.duckdb").write_bytes(b"DUCK torn")
    with pytest.raises(Exception, match=r"jaffle_shop\.duckdb"):
        dashboards(date(2020, 3, 1), date(2020, 3, 14))
    page = (data_dir / "dashboards" / "lineage.html").read_text()
    assert '<g class="node failed" data-dataset="dashboards.dashboard"' in page
    assert not (data_dir / "dashboards" / "latest.html").exists()
