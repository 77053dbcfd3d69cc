"""The declared schema of every raw dataset: the contract other teams read.

Each dataset is written to `<lake>/raw/<source>/<table>/` with its schema beside the data in
`_schema.json` (column types, nullability, smallest allowed value, references, primary key and
partitioning), so the dbt and ML teams can rely on it without importing this package.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pyarrow as pa

TIMESTAMP = pa.timestamp("us")
CENTS = pa.int64()


@dataclass(frozen=True)
class Column:
    """One column: its Arrow type, whether it may be null, its floor, what it references."""

    name: str
    type: pa.DataType
    nullable: bool = True
    min: float | None = None
    references: str | None = None  # "<source>.<table>.<column>"
    description: str = ""


@dataclass(frozen=True)
class Dataset:
    """A raw table: its columns, primary key and the timestamp that decides its daily partition."""

    source: str
    table: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    partition_by: str | None = None  # None: a reference table written whole
    description: str = ""

    @property
    def name(self) -> str:
        return f"{self.source}.{self.table}"

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.type, nullable=c.nullable) for c in self.columns])

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def contract(self) -> dict:
        """The JSON document written beside the data."""
        return {
            "dataset": self.name,
            "description": self.description,
            "path": f"raw/{self.source}/{self.table}",
            "files": "date=YYYY-MM-DD/part-0.parquet" if self.partition_by else "part-0.parquet",
            "partitioned_by": (
                {"column": "date", "from": self.partition_by, "format": "YYYY-MM-DD"}
                if self.partition_by
                else None
            ),
            "primary_key": list(self.key),
            "columns": [
                {
                    "name": c.name,
                    "type": str(c.type),
                    "nullable": c.nullable,
                    **({"min": c.min} if c.min is not None else {}),
                    **({"references": c.references} if c.references else {}),
                    **({"description": c.description} if c.description else {}),
                }
                for c in self.columns
            ],
        }

    def contract_json(self) -> bytes:
        return (json.dumps(self.contract(), indent=2, sort_keys=False) + "\n").encode()


def _id(name: str, description: str = "", references: str | None = None) -> Column:
    return Column(name, pa.string(), nullable=False, references=references, description=description)


STORES = Dataset(
    "jaffle_shop",
    "stores",
    (
        _id("store_id"),
        Column("store_name", pa.string(), nullable=False),
        Column("opened_at", TIMESTAMP, nullable=False),
        Column("tax_rate", pa.float64(), nullable=False, min=0),
    ),
    key=("store_id",),
    description="Every store, with the day it opened and its sales tax rate.",
)
PRODUCTS = Dataset(
    "jaffle_shop",
    "products",
    (
        _id("sku"),
        Column("product_name", pa.string(), nullable=False),
        Column("product_type", pa.string(), nullable=False),
        Column("price", CENTS, nullable=False, min=0, description="cents"),
        Column("valid_from", pa.date32(), nullable=False),
        Column("valid_to", pa.date32(), nullable=False),
    ),
    key=("sku", "valid_from"),
    description="The menu and its price history: one row per product and price period.",
)
SUPPLIES = Dataset(
    "jaffle_shop",
    "supplies",
    (
        _id("supply_id"),
        Column("supply_name", pa.string(), nullable=False),
        Column("cost", CENTS, nullable=False, min=0, description="cents"),
        Column("perishable", pa.bool_(), nullable=False),
        _id("sku"),
    ),
    key=("supply_id", "sku"),
    description="What each product consumes and what it costs.",
)
CUSTOMERS = Dataset(
    "jaffle_shop",
    "customers",
    (
        _id("customer_id"),
        Column("customer_name", pa.string(), nullable=False),
        Column("first_seen_at", TIMESTAMP, nullable=False),
    ),
    key=("customer_id",),
    partition_by="first_seen_at",
    description="Customers, partitioned by the day they first ordered.",
)
ORDERS = Dataset(
    "jaffle_shop",
    "orders",
    (
        _id("order_id"),
        _id("store_id", references="jaffle_shop.stores.store_id"),
        _id("customer_id"),
        Column("ordered_at", TIMESTAMP, nullable=False),
        Column("session_id", pa.string(), description="the web session the order came from, if online"),
        Column("subtotal", CENTS, nullable=False, min=0, description="cents"),
        Column("tax_paid", CENTS, nullable=False, min=0, description="cents"),
        Column("order_total", CENTS, nullable=False, min=0, description="cents"),
    ),
    key=("order_id",),
    partition_by="ordered_at",
    description="Orders, partitioned by the day they were placed.",
)
ORDER_ITEMS = Dataset(
    "jaffle_shop",
    "order_items",
    (
        _id("order_item_id"),
        _id("order_id"),
        _id("sku"),
        Column("quantity", pa.int64(), nullable=False, min=1),
        Column("unit_price", CENTS, nullable=False, min=0, description="cents"),
        Column("ordered_at", TIMESTAMP, nullable=False),
    ),
    key=("order_item_id",),
    partition_by="ordered_at",
    description="Order lines, partitioned like their orders.",
)
AD_SPEND = Dataset(
    "marketing",
    "ad_spend",
    (
        Column("spend_date", pa.date32(), nullable=False),
        Column("channel", pa.string(), nullable=False),
        Column("campaign", pa.string(), nullable=False),
        Column("utm_source", pa.string()),
        Column("utm_medium", pa.string()),
        Column("spend", CENTS, nullable=False, min=0, description="cents"),
    ),
    key=("spend_date", "channel", "campaign"),
    partition_by="spend_date",
    description="Paid marketing spend per channel, campaign and day.",
)
WEB_SESSIONS = Dataset(
    "marketing",
    "web_sessions",
    (
        _id("session_id"),
        Column("started_at", TIMESTAMP, nullable=False),
        Column("channel", pa.string(), nullable=False),
        Column("campaign", pa.string()),
        Column("utm_source", pa.string()),
        Column("utm_medium", pa.string()),
        Column("utm_campaign", pa.string()),
        Column("customer_id", pa.string(), description="known when the visitor is logged in or orders"),
    ),
    key=("session_id",),
    partition_by="started_at",
    description="Web sessions with their traffic source, joinable to orders by session_id.",
)

DATASETS: dict[str, Dataset] = {
    d.name: d for d in (STORES, PRODUCTS, SUPPLIES, CUSTOMERS, ORDERS, ORDER_ITEMS, AD_SPEND, WEB_SESSIONS)
}
SOURCES = ("jaffle_shop", "marketing")


def datasets_of(source: str) -> list[Dataset]:
    """The datasets one source lands, reference tables first."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; expected one of {', '.join(SOURCES)}")
    found = [d for d in DATASETS.values() if d.source == source]
    return sorted(found, key=lambda d: d.partition_by is not None)
