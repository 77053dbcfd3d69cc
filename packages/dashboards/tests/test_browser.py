"""The dashboard checked as a person would: served over HTTP, opened in headless Chromium."""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import threading
from datetime import date
from pathlib import Path

import duckdb
import pytest
from jaffle_dashboards.flows import dashboards

CHROMIUM = os.environ.get("JAFFLE_CHROMIUM", "/usr/bin/chromium")
# Screenshots land here for CI to keep (gitignored).
ARTIFACTS = Path(
    os.environ.get("JAFFLE_TEST_ARTIFACTS", Path(__file__).resolve().parents[3] / "test-artifacts")
)
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def chromium():
    if not shutil.which(CHROMIUM):
        message = f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@contextlib.contextmanager
def _serving(data_dir: Path):
    """The dashboard of the fixture's two weeks, rendered by the flow, and its folder over HTTP on
    loopback, like a person's browser would reach it."""
    dashboards(date(2020, 3, 1), date(2020, 3, 14))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(data_dir / "dashboards"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/latest.html"
    finally:
        server.shutdown()


@pytest.fixture
def served(data_dir):
    with _serving(data_dir) as url:
        yield url


@contextlib.contextmanager
def _page(chromium: str, profile: Path):
    """A page in headless Chromium with a fresh profile (nothing cached, nothing shared), and the errors
    its console and scripts report."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=chromium,
            headless=True,
            args=FLAGS,
            viewport={"width": 1280, "height": 2400},
        )
        try:
            page = browser.new_page()
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            yield page, errors
        finally:
            browser.close()


VISIBLE = """id => document.getElementById(id).data
    .filter(t => t.visible !== false && t.visible !== 'legendonly').map(t => t.name)"""
PLOTTED = """() => [...document.querySelectorAll('.js-plotly-plot')].map(gd => ({
    id: gd.id,
    points: gd._fullData.filter(t => t.visible === true)
        .reduce((n, t) => n + ((t.x && t.x.length) || (t.z && t.z.length) || 0), 0),
    drawn: gd.querySelectorAll('.scatterlayer .trace, .barlayer .point, .heatmaplayer .hm').length,
}))"""


@pytest.mark.browser
def test_the_dashboard_renders_with_data_and_the_store_selector_works(chromium, served, tmp_path):
    with _page(chromium, tmp_path / "profile") as (page, errors):
        page.goto(served, wait_until="load")
        page.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length >= 5")

        charts = {c["id"]: c for c in page.evaluate(PLOTTED)}
        assert set(charts) == {
            "chart-revenue",
            "chart-channels-0",
            "chart-channels-1",
            "chart-products",
            "chart-cohorts",
        }
        for chart in charts.values():
            assert chart["points"] > 0 and chart["drawn"] > 0, chart  # plotted with data, not empty

        first = page.evaluate(VISIBLE, "chart-revenue")
        assert first and all(name.startswith("Philadelphia (store-001)") for name in first)
        page.locator("#chart-revenue .updatemenu-header-group").click()
        page.locator("#chart-revenue .updatemenu-dropdown-button", has_text="Brooklyn (store-002)").click()
        page.wait_for_function(f"({VISIBLE})('chart-revenue').every(n => n.startsWith('Brooklyn'))")
        second = page.evaluate(VISIBLE, "chart-revenue")
        assert len(second) == len(first) == 4  # revenue, 95% and 80% bands, forecast

        assert page.locator('[data-kpi="revenue"] strong').inner_text() == "$5,040.00"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    assert errors == []
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000


@pytest.mark.browser
def test_without_web_sessions_the_page_says_why_instead_of_drawing_empty_charts(chromium, data_dir, tmp_path):
    # An export of orders alone (jafgen's, as a new user lands it): the marketing warehouse has its
    # channels and no session or spend in them.
    with duckdb.connect(str(data_dir / "warehouse" / "attribution.duckdb")) as con:
        con.execute(
            "update channel_performance set count_sessions = 0, spend = 0, first_touch_revenue = 0, "
            "last_touch_revenue = 0, linear_revenue = 0, linear_orders = 0"
        )
    with _serving(data_dir) as url, _page(chromium, tmp_path / "profile") as (page, errors):
        page.goto(url, wait_until="load")
        page.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length >= 3")
        notice = page.locator('[data-missing="channels"]')
        assert notice.is_visible()
        said = notice.inner_text()
        assert "no web sessions from 2020-03-01 to 2020-03-14" in said and "marketing data" in said, said
        charts = {c["id"] for c in page.evaluate(PLOTTED)}
        assert charts == {"chart-revenue", "chart-products", "chart-cohorts"}  # no empty marketing charts
        assert page.locator('[data-kpi="attributed_revenue"] strong').inner_text() == "n/a"
        assert page.locator('[data-kpi="revenue"] strong').inner_text() == "$5,040.00"
    assert errors == []
