"""Read the marts and forecasts and render the dashboard page; plain functions, no orchestration."""

from __future__ import annotations

import html
import os
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import plotly.express as px


@dataclass(frozen=True)
class DashboardData:
    revenue: pd.DataFrame  # order_date, location_name, revenue, count_orders
    channels: pd.DataFrame  # channel, spend, revenue, count_orders, count_sessions
    forecast: pd.DataFrame  # location_id, forecast_date, revenue_forecast, lo/hi; may be empty
    forecast_as_of: date | None


def load(
    warehouse: Path, forecasts_dir: Path, start: date, end: date, attribution: Path | None = None
) -> DashboardData:
    """Read what the page shows; a missing warehouse is a clear error naming what to run first.

    Both warehouses are the dbt team's published files, opened read-only; attribution is optional.
    """
    if not warehouse.exists():
        raise FileNotFoundError(f"no warehouse at {warehouse}: run the dbt-jaffle-shop flow first")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        revenue = con.execute(
            """select order_date, location_id, location_name, revenue, count_orders
               from daily_store_revenue where order_date between ? and ? order by 1, 2""",
            [start, end],
        ).df()
    channels = pd.DataFrame()
    if attribution is not None and attribution.exists():
        with duckdb.connect(str(attribution), read_only=True) as con:
            channels = con.execute(
                """select channel, sum(spend) as spend, sum(linear_revenue) as revenue,
                      sum(linear_orders) as count_orders, sum(count_sessions) as count_sessions
               from channel_performance where activity_date between ? and ? group by 1 order by 1""",
                [start, end],
            ).df()
    partitions = sorted(forecasts_dir.glob("as_of=*/part-0.parquet"))
    if partitions:
        forecast = pd.read_parquet(partitions[-1])
        as_of = date.fromisoformat(partitions[-1].parent.name.removeprefix("as_of="))
    else:
        forecast, as_of = pd.DataFrame(), None
    return DashboardData(revenue, channels, forecast, as_of)


def kpis(data: DashboardData) -> dict[str, float]:
    """The headline numbers of the window."""
    spend = float(data.channels["spend"].sum()) if not data.channels.empty else 0.0
    attributed = float(data.channels["revenue"].sum()) if not data.channels.empty else 0.0
    return {
        "revenue": round(float(data.revenue["revenue"].sum()), 2),
        "orders": int(data.revenue["count_orders"].sum()),
        "stores": int(data.revenue["location_id"].nunique()),
        "ad_spend": round(spend, 2),
        "attributed_revenue": round(attributed, 2),
        "forecast_revenue": round(float(data.forecast["revenue_forecast"].sum()), 2)
        if not data.forecast.empty
        else 0.0,
    }


def render(data: DashboardData, start: date, end: date) -> str:
    """One self-contained HTML page: plotly.js is embedded once, so it opens offline."""
    figures = []
    if not data.revenue.empty:
        figures.append(
            px.line(
                data.revenue,
                x="order_date",
                y="revenue",
                color="location_name",
                title="Daily revenue per store",
            )
        )
    if not data.forecast.empty:
        fig = px.line(
            data.forecast,
            x="forecast_date",
            y="revenue_forecast",
            color="location_id",
            title=f"Revenue forecast as of {data.forecast_as_of}",
        )
        figures.append(fig)
    if not data.channels.empty:
        long = data.channels.melt(id_vars="channel", value_vars=["spend", "revenue"], var_name="measure")
        figures.append(
            px.bar(
                long,
                x="channel",
                y="value",
                color="measure",
                barmode="group",
                title="Ad spend and last-touch revenue per channel",
            )
        )
    charts = [
        fig.to_html(full_html=False, include_plotlyjs=(i == 0), div_id=f"chart-{i}")
        for i, fig in enumerate(figures)
    ]
    numbers = kpis(data)
    tiles = "".join(
        f'<div class="kpi" data-kpi="{html.escape(k)}"><span>{html.escape(k.replace("_", " "))}</span>'
        f"<strong>{v:,}</strong></div>"
        for k, v in numbers.items()
    )
    empty = "" if figures else '<p class="empty">No data in this window yet.</p>'
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Jaffle Shop dashboard {start} to {end}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem;color:#222}}
.kpis{{display:flex;gap:1rem;flex-wrap:wrap}}
.kpi{{border:1px solid #ddd;border-radius:8px;padding:.75rem 1rem}}
.kpi span{{display:block;font-size:.8rem;color:#666;text-transform:capitalize}}</style></head>
<body><h1>Jaffle Shop</h1><p>{start} to {end}</p><div class="kpis">{tiles}</div>{empty}
{"".join(charts)}
</body></html>
"""


def write_page(page: str, target: Path) -> Path:
    """Write the page atomically: a reader never sees half a dashboard."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, scratch = tempfile.mkstemp(prefix=".index-", suffix=".tmp", dir=target.parent)
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(page)
    os.replace(scratch, target)
    return target
