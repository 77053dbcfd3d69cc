"""Read the marts and forecasts and render the dashboard page; plain functions, no Prefect.

The page is one self-contained HTML file (plotly.js inlined once), so it opens on an offline machine.
Every section says what is missing and why when its input is not there, instead of an empty plot.
"""

from __future__ import annotations

import html
import io
import posixpath
from dataclasses import dataclass, field
from datetime import UTC, date
from pathlib import Path

import duckdb
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from jaffle_contract import datasets
from jaffle_data.storage import Storage

MODELS = ("first_touch", "last_touch", "linear")
# Headline numbers that are money, shown as such ("$4,059,468.00").
MONEY = frozenset({"revenue", "ad_spend", "attributed_revenue", "forecast_revenue"})
# A headline number that cannot be worked out from what was landed (shown so, with the reason below).
NOT_AVAILABLE = "n/a"


@dataclass(frozen=True)
class Sources:
    """Where the dashboard reads from: the dbt team's published warehouses and the ML team's lake."""

    warehouse: Path  # local files to open read-only (copies, when the data root is an object store)
    attribution: Path
    storage: Storage  # the data root: the forecasts, the lake, when each was written


@dataclass
class DashboardData:
    start: date
    end: date
    revenue: pd.DataFrame = field(default_factory=pd.DataFrame)  # order_date, location_id/_name, revenue
    forecast: pd.DataFrame = field(default_factory=pd.DataFrame)  # location_id, forecast_date, intervals
    forecast_as_of: date | None = None
    channels: pd.DataFrame = field(default_factory=pd.DataFrame)  # channel, spend, <model>_revenue
    products: pd.DataFrame = field(default_factory=pd.DataFrame)  # product_name, revenue, quantity
    cohorts: pd.DataFrame = field(default_factory=pd.DataFrame)  # cohort_month, order_week, customers
    freshness: list[dict] = field(default_factory=list)  # dataset, latest, updated
    missing: dict[str, str] = field(default_factory=dict)  # section -> what is missing and why


def _read(path: Path, query: str, params: list) -> pd.DataFrame:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(query, params).df()


def _updated(storage: Storage, *parts: str) -> str:
    stamp = storage.modified(*parts)
    return stamp.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if stamp else ""


def load(sources: Sources, start: date, end: date) -> DashboardData:
    """Read everything the page shows; what cannot be read is recorded in `missing`, never raised."""
    data = DashboardData(start, end)
    window = [start, end]
    if not sources.warehouse.exists():
        where = sources.storage.uri(datasets.warehouse_file())
        reason = f"no warehouse at {where}: run the dbt-jaffle-shop flow first"
        for section in ("revenue", "products", "cohorts"):
            data.missing[section] = reason
    else:
        data.revenue = _read(
            sources.warehouse,
            """select order_date, location_id, location_name, revenue, count_orders
               from daily_store_revenue where order_date between ? and ? order by 1, 2""",
            window,
        )
        if data.revenue.empty:
            data.missing["revenue"] = (
                f"daily_store_revenue has no rows from {start} to {end}: "
                "run raw-data-jaffle-shop and dbt-jaffle-shop for these dates"
            )
        data.products = _read(
            sources.warehouse,
            """select product_name, product_type, sum(line_total) as revenue, sum(quantity) as quantity
               from order_items where order_date between ? and ?
               group by 1, 2 order by revenue desc limit 10""",
            window,
        )
        if data.products.empty:
            data.missing["products"] = f"order_items has no rows from {start} to {end}"
        data.cohorts = _read(
            sources.warehouse,
            """select strftime(date_trunc('month', c.first_ordered_at), '%Y-%m') as cohort_month,
                      strftime(date_trunc('week', o.order_date), '%Y-%m-%d') as order_week,
                      count(distinct o.customer_id) as customers, sum(o.subtotal) as revenue
               from orders o join customers c using (customer_id)
               where o.order_date between ? and ? group by 1, 2 order by 1, 2""",
            window,
        )
        if data.cohorts.empty:
            data.missing["cohorts"] = f"no orders with customers from {start} to {end}"
        latest = _read(sources.warehouse, "select max(order_date) as latest from daily_store_revenue", [])
        data.freshness.append(
            {
                "dataset": "warehouse: daily_store_revenue",
                "latest": str(pd.Timestamp(latest["latest"].iloc[0]).date()),
                "updated": _updated(sources.storage, datasets.warehouse_file()),
            }
        )

    if not sources.attribution.exists():
        where = sources.storage.uri(datasets.warehouse_file("attribution"))
        data.missing["channels"] = f"no attribution warehouse at {where}: run dbt-attribution"
    else:
        data.channels = _read(
            sources.attribution,
            """select channel, sum(spend) as spend, sum(count_sessions) as sessions,
                      sum(first_touch_revenue) as first_touch_revenue,
                      sum(last_touch_revenue) as last_touch_revenue,
                      sum(linear_revenue) as linear_revenue, sum(linear_orders) as linear_orders
               from channel_performance where activity_date between ? and ? group by 1 order by 1""",
            window,
        )
        if data.channels.empty:
            data.missing["channels"] = f"channel_performance has no rows from {start} to {end}"
        elif not data.channels["sessions"].sum():
            data.missing["channels"] = (
                f"the landed data has no web sessions from {start} to {end}: attribution needs marketing "
                "data (web sessions and ad spend, which the raw-data-marketing flow lands)"
            )
        elif not data.channels[[f"{m}_revenue" for m in MODELS]].to_numpy().sum():
            data.missing["channels"] = (
                f"no web session from {start} to {end} led to an order: there is no revenue to attribute"
            )
        latest = _read(
            sources.attribution, "select max(activity_date) as latest from channel_performance", []
        )
        data.freshness.append(
            {
                "dataset": "warehouse: channel_performance",
                "latest": str(pd.Timestamp(latest["latest"].iloc[0]).date()),
                "updated": _updated(sources.storage, datasets.warehouse_file("attribution")),
            }
        )

    storage = sources.storage
    partitions = [
        p
        for p in storage.glob(datasets.FORECASTS, "as_of=*/part-0.parquet")
        if posixpath.basename(posixpath.dirname(p))[6:] <= end.isoformat()
    ]
    if partitions:
        data.forecast = pd.read_parquet(io.BytesIO(storage.read_bytes(partitions[-1])))
        as_of = posixpath.basename(posixpath.dirname(partitions[-1])).removeprefix("as_of=")
        data.forecast_as_of = date.fromisoformat(as_of)
        data.freshness.append(
            {
                "dataset": "lake: ml/revenue_forecast",
                "latest": f"as_of={data.forecast_as_of}",
                "updated": _updated(storage, partitions[-1]),
            }
        )
    else:
        data.missing["forecast"] = (
            f"no forecast as of {end} or earlier in {storage.uri(datasets.FORECASTS)}: run sales-forecast"
        )

    newest_by_table: dict[str, str] = {}
    for day in storage.glob(datasets.LAKE, "raw/*/*/date=*/*.parquet"):
        table = posixpath.dirname(posixpath.dirname(day))
        newest_by_table[table] = max(newest_by_table.get(table, day), day)
    for table, newest in sorted(newest_by_table.items()):
        data.freshness.append(
            {
                "dataset": f"lake: {table.removeprefix(datasets.LAKE + '/')}",
                "latest": posixpath.basename(posixpath.dirname(newest)),
                "updated": _updated(storage, newest),
            }
        )
    return data


def kpis(data: DashboardData) -> dict[str, float | None]:
    """The headline numbers of the window; None for the marketing ones when attribution has nothing to
    show (no marketing data landed: the page says why), rather than a 0 that reads as a result."""
    attribution = "channels" not in data.missing and not data.channels.empty
    spend = float(data.channels["spend"].sum()) if attribution else None
    attributed = float(data.channels["linear_revenue"].sum()) if attribution else None
    revenue = float(data.revenue["revenue"].sum()) if not data.revenue.empty else 0.0
    return {
        "revenue": round(revenue, 2),
        "orders": int(data.revenue["count_orders"].sum()) if not data.revenue.empty else 0,
        "stores": int(data.revenue["location_id"].nunique()) if not data.revenue.empty else 0,
        "ad_spend": None if spend is None else round(spend, 2),
        "attributed_revenue": None if attributed is None else round(attributed, 2),
        "roas_linear": round(attributed / spend, 2) if spend and attributed is not None else None,
        "forecast_revenue": round(float(data.forecast["revenue_forecast"].sum()), 2)
        if not data.forecast.empty
        else 0.0,
    }


def shown(key: str, value: float | None) -> str:
    """A headline number as the page and the summary show it: money as money, counts with separators."""
    if value is None:
        return NOT_AVAILABLE
    if key in MONEY:
        return f"${value:,.2f}"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"


def headline_markdown(data: DashboardData, start: date, end: date) -> str:
    """The run's headline numbers as a Markdown table, and what the dashboard had to do without."""
    missing = [f"- **{k}**: {v}" for k, v in data.missing.items()]
    return "\n".join(
        [
            f"# Jaffle Shop, {start} to {end}",
            "",
            "| measure | value |",
            "| --- | --- |",
            *[f"| {k.replace('_', ' ')} | {shown(k, v)} |" for k, v in kpis(data).items()],
            *(["", "Missing from this dashboard:", *missing] if missing else []),
        ]
    )


def revenue_by_store(data: DashboardData) -> list[dict]:
    """Revenue and orders per store over the window."""
    per_store = data.revenue.groupby(["location_id", "location_name"], as_index=False).agg(
        revenue=("revenue", "sum"), orders=("count_orders", "sum")
    )
    return per_store.round(2).to_dict(orient="records")


def revenue_figure(data: DashboardData) -> go.Figure:
    """Daily revenue and the forecast with 80%/95% bands, one store at a time (a store selector)."""
    names = data.revenue.drop_duplicates("location_id").set_index("location_id")["location_name"]
    stores = sorted(set(data.revenue["location_id"]) | set(data.forecast.get("location_id", [])))
    fig = go.Figure()
    owner: list[str] = []
    for i, store in enumerate(stores):
        label = f"{names.get(store, store)} ({store})"
        actual = data.revenue[data.revenue["location_id"] == store]
        fig.add_trace(
            go.Scatter(x=actual["order_date"], y=actual["revenue"], name=f"{label}: revenue", visible=i == 0)
        )
        owner.append(store)
        ahead = data.forecast[data.forecast["location_id"] == store] if not data.forecast.empty else None
        if ahead is not None and len(ahead):
            for level, alpha in ((95, 0.12), (80, 0.25)):
                fig.add_trace(
                    go.Scatter(
                        x=list(ahead["forecast_date"]) + list(ahead["forecast_date"])[::-1],
                        y=list(ahead[f"revenue_hi_{level}"]) + list(ahead[f"revenue_lo_{level}"])[::-1],
                        fill="toself",
                        mode="lines",
                        fillcolor=f"rgba(255,127,14,{alpha})",
                        line={"width": 0},
                        name=f"{label}: {level}% interval",
                        visible=i == 0,
                    )
                )
                owner.append(store)
            fig.add_trace(
                go.Scatter(
                    x=ahead["forecast_date"],
                    y=ahead["revenue_forecast"],
                    name=f"{label}: forecast ({ahead['model_name'].iloc[0]})",
                    line={"dash": "dash", "color": "rgb(255,127,14)"},
                    visible=i == 0,
                )
            )
            owner.append(store)
    buttons = [
        {
            "label": f"{names.get(store, store)} ({store})",
            "method": "update",
            "args": [{"visible": [o == store for o in owner]}],
        }
        for store in stores
    ]
    fig.update_layout(
        title="Daily revenue and forecast per store",
        updatemenus=[
            {
                "buttons": buttons,
                "direction": "down",
                "x": 0.0,
                "xanchor": "left",
                "y": 1.12,
                "yanchor": "bottom",
            }
        ],
        title_x=0.5,
        yaxis_title="revenue ($)",
    )
    return fig


def channel_figures(data: DashboardData) -> list[go.Figure]:
    """Attributed revenue and ROAS per channel under each attribution model."""
    long = data.channels.melt(
        id_vars=["channel", "spend"],
        value_vars=[f"{m}_revenue" for m in MODELS],
        var_name="model",
        value_name="revenue",
    )
    long["model"] = long["model"].str.removesuffix("_revenue").str.replace("_", " ")
    long["roas"] = long["revenue"] / long["spend"].where(long["spend"] > 0)
    revenue = px.bar(
        long, x="channel", y="revenue", color="model", barmode="group", title="Attributed revenue per channel"
    )
    paid = long.dropna(subset=["roas"])
    roas = px.bar(
        paid,
        x="channel",
        y="roas",
        color="model",
        barmode="group",
        title="Return on ad spend per paid channel",
    )
    return [revenue, roas]


def render(data: DashboardData, team_runs: list[dict] | None = None) -> str:
    """One self-contained HTML page: plotly.js is embedded once, so it opens offline."""
    sections: list[tuple[str, str, go.Figure | None]] = []
    if "revenue" not in data.missing:
        sections.append(("revenue", "Revenue and forecast", revenue_figure(data)))
    if "channels" not in data.missing:
        for i, fig in enumerate(channel_figures(data)):
            sections.append((f"channels-{i}", "Marketing", fig))
    if "products" not in data.missing:
        sections.append(
            (
                "products",
                "Top products",
                px.bar(
                    data.products,
                    x="revenue",
                    y="product_name",
                    color="product_type",
                    orientation="h",
                    title="Top products by revenue",
                ).update_yaxes(autorange="reversed"),
            )
        )
    if "cohorts" not in data.missing:
        grid = data.cohorts.pivot_table(
            index="cohort_month", columns="order_week", values="customers", aggfunc="sum", fill_value=0
        )
        cohorts = go.Figure(
            go.Heatmap(z=grid.to_numpy(), x=list(grid.columns), y=list(grid.index), colorscale="Blues")
        )
        cohorts.update_layout(
            title="Customers ordering per week, by the month of their first order",
            xaxis={"type": "category", "title": "week of"},
            yaxis={"type": "category", "title": "first order in"},
        )
        sections.append(("cohorts", "Customer cohorts", cohorts))
    charts = []
    for i, (key, _, fig) in enumerate(sections):
        charts.append(
            f'<section data-section="{key}">'
            + fig.to_html(full_html=False, include_plotlyjs=(i == 0), div_id=f"chart-{key}")
            + "</section>"
        )
    notices = "".join(
        f'<p class="missing" data-missing="{html.escape(k)}"><strong>{html.escape(k)}</strong>: '
        f"{html.escape(v)}</p>"
        for k, v in data.missing.items()
    )
    tiles = "".join(
        f'<div class="kpi" data-kpi="{html.escape(k)}"><span>{html.escape(k.replace("_", " "))}</span>'
        f"<strong>{html.escape(shown(k, v))}</strong></div>"
        for k, v in kpis(data).items()
    )
    fresh = "".join(
        f"<tr><td>{html.escape(r['dataset'])}</td><td>{html.escape(r['latest'])}</td>"
        f"<td>{html.escape(r['updated'])}</td></tr>"
        for r in data.freshness
    )
    runs = "".join(
        f"<tr><td>{html.escape(r['team'])}</td><td>{html.escape(r['flow'])}</td>"
        f"<td>{html.escape(r['state'])}</td><td>{html.escape(r['finished'])}</td></tr>"
        for r in team_runs or []
    )
    runs_table = (
        '<table id="team-runs"><tr><th>team</th><th>flow</th><th>last run</th><th>finished</th></tr>'
        f"{runs}</table>"
        if runs
        else ""
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">
<title>Jaffle Shop dashboard {data.start} to {data.end}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem;color:#222}}
.kpis{{display:flex;gap:1rem;flex-wrap:wrap}}
.kpi{{border:1px solid #ddd;border-radius:8px;padding:.75rem 1rem}}
.kpi span{{display:block;font-size:.8rem;color:#666;text-transform:capitalize}}
.missing{{background:#fff4e5;border-left:4px solid #f0a020;padding:.5rem 1rem}}
table{{border-collapse:collapse;margin:.5rem 0}}
td,th{{border:1px solid #ddd;padding:.25rem .5rem;text-align:left}}
</style></head>
<body><h1>Jaffle Shop</h1><p>{data.start} to {data.end}</p>
<div class="kpis">{tiles}</div>
{notices}
{"".join(charts)}
<section id="freshness"><h2>Data freshness</h2>
<table><tr><th>dataset</th><th>latest partition</th><th>updated</th></tr>{fresh}</table>
{runs_table}</section>
</body></html>
"""


def write_page(
    page: str, storage: Storage, output_dir: str, start: date, end: date, stamp: str
) -> tuple[str, str]:
    """Write a versioned copy, then replace `latest.html`, each atomically; returns both paths under the
    data root."""
    version = posixpath.join(output_dir, "versions", f"{stamp}_{start}_{end}.html")
    latest = posixpath.join(output_dir, "latest.html")
    for target in (version, latest):
        write_file(page, storage, target)
    return version, latest


def write_file(page: str, storage: Storage, target: str) -> str:
    """Write one page atomically, readable by everyone."""
    return storage.write_bytes(page.encode("utf-8"), target, mode=datasets.PUBLISHED_MODE)
