"""What each source lands in the lake, one day at a time."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from jaffle_ingestion import synthetic
from jaffle_ingestion.lake import partition_path, write_table

# source -> the daily tables it owns. The Jaffle Shop's reference tables are written whole.
DAILY_TABLES = {
    "jaffle_shop": ("orders", "order_items", "customers"),
    "marketing": ("ad_spend", "web_sessions"),
}


def land_reference(config: synthetic.ShopConfig, lake: Path) -> dict[str, int]:
    """Write the Jaffle Shop's reference tables; they do not depend on the date range."""
    frames = {
        "stores": synthetic.stores(config),
        "products": synthetic.products(),
        "supplies": synthetic.supplies(),
    }
    for table, frame in frames.items():
        write_table(frame, partition_path(lake, "jaffle_shop", table))
    return {table: len(frame) for table, frame in frames.items()}


def land_day(config: synthetic.ShopConfig, lake: Path, source: str, day: date) -> dict[str, int]:
    """Write one day's partition of every daily table of `source`; returns rows per table."""
    generated = synthetic.generate_day(config, day)
    rows = {}
    for table in DAILY_TABLES[source]:
        frame = getattr(generated, table)
        write_table(frame, partition_path(lake, source, table, day))
        rows[table] = len(frame)
    return rows
