"""Write the ML team's test fixture: two years of the platform's synthetic daily revenue per store.

    hatch run ingestion:python tools/make_ml_fixture.py

It generates the synthetic Jaffle Shop with the ingestion team's generator (seed 42, 6 stores, 1,000
orders a day) and aggregates it the way the dbt `daily_store_revenue` mart does (orders and subtotal
per store and day, in dollars). The ML environment cannot import the ingestion package (isolated
environments), so the result is committed as a small Parquet file.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
from jaffle_ingestion import synthetic

TARGET = (
    Path(__file__).resolve().parent.parent / "packages/ml_forecast/tests/fixtures/daily_store_revenue.parquet"
)
START, END = date(2022, 1, 1), date(2023, 12, 31)


def main() -> None:
    config = synthetic.ShopConfig(seed=42, orders_per_day=1000, stores=6)
    names = synthetic.stores(config).set_index("store_id")["store_name"]
    frames = []
    for day in synthetic.days(START, END):
        orders = synthetic.generate_day(config, day).orders
        daily = orders.groupby("store_id").agg(count_orders=("order_id", "size"), revenue=("subtotal", "sum"))
        frames.append(daily.reset_index().assign(order_date=day))
    revenue = pd.concat(frames, ignore_index=True)
    revenue = pd.DataFrame(
        {
            "order_date": revenue["order_date"],
            "location_id": revenue["store_id"].astype(str),
            "location_name": revenue["store_id"].map(names).astype(str),
            "count_orders": revenue["count_orders"].astype("int64"),
            "revenue": revenue["revenue"] / 100.0,
        }
    )
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    revenue.to_parquet(TARGET, index=False)
    print(f"{len(revenue)} rows, {revenue['location_id'].nunique()} stores -> {TARGET}")


if __name__ == "__main__":
    main()
