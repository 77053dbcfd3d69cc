"""Landing formats: the shapes a landing file may have, and how each becomes its raw dataset.

- `native`: the raw schema itself (datasets.toml): the file has every column of its dataset.
- `jaffle-shop-export`: the canonical Jaffle Shop exports, the seeds of dbt-labs/jaffle-shop as
  `jafgen` writes them (`raw_customers.csv`, `raw_orders.csv`, `raw_items.csv`, `raw_products.csv`,
  `raw_stores.csv`, `raw_supplies.csv`, `raw_tweets.csv`). Their columns are renamed, and what the raw
  schema needs that they lack is derived from the other exports of the same landing (`EXPORT` below is
  the one declaration; the ingestion README's table is made from it by `mapping_table`).

A file's format is told from its header. A file in `<source>/<table>/` is that table, in whichever
format its header has; a file directly in `<source>/` is the table whose header it has (the shape with
the most columns wins, so a stores export is not taken for a customers export). A header that matches
neither format is refused, naming the columns it lacks for each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from jaffle_ingestion.quality import WrongColumns, _coerce
from jaffle_ingestion.schemas import DATASETS, Dataset

NATIVE = "native"
EXPORT_FORMAT = "jaffle-shop-export"
# Derived rows the raw schema cannot take say why in this column; the quality check quarantines them.
PROBLEM = "_problem"
# A price with no end: the exports have one price per product.
NO_END = np.datetime64("9999-12-31", "us")


class IncompleteLanding(RuntimeError):
    """An export needs another export of the same landing to derive its columns, and it is not there."""


@dataclass(frozen=True)
class Shape:
    """One table of the export format: its file's columns, each renamed to a raw column, and the raw
    columns it lacks, each derived (the text says how; `needs` are the raw tables it derives from)."""

    table: str
    file: str
    renamed: dict[str, str]
    derived: dict[str, str] = field(default_factory=dict)
    needs: tuple[str, ...] = ()

    @property
    def columns(self) -> list[str]:
        return list(self.renamed)


EXPORT: dict[str, Shape] = {
    shape.table: shape
    for shape in (
        Shape(
            "stores",
            "raw_stores",
            {"id": "store_id", "name": "store_name", "opened_at": "opened_at", "tax_rate": "tax_rate"},
        ),
        Shape(
            "products",
            "raw_products",
            {"sku": "sku", "name": "product_name", "type": "product_type", "price": "price"},
            {
                "valid_from": "the day the first store opened (raw_stores.opened_at)",
                "valid_to": "9999-12-31: an export has one price per product",
            },
            ("stores",),
        ),
        Shape(
            "supplies",
            "raw_supplies",
            {
                "id": "supply_id",
                "name": "supply_name",
                "cost": "cost",
                "perishable": "perishable",
                "sku": "sku",
            },
        ),
        Shape(
            "customers",
            "raw_customers",
            {"id": "customer_id", "name": "customer_name"},
            {"first_seen_at": "the customer's first order (earliest raw_orders.ordered_at)"},
            ("orders",),
        ),
        Shape(
            "orders",
            "raw_orders",
            {
                "id": "order_id",
                "customer": "customer_id",
                "ordered_at": "ordered_at",
                "store_id": "store_id",
                "subtotal": "subtotal",
                "tax_paid": "tax_paid",
                "order_total": "order_total",
            },
            {"session_id": "empty: the exports have no web sessions"},
        ),
        Shape(
            "order_items",
            "raw_items",
            {"id": "order_item_id", "order_id": "order_id", "sku": "sku"},
            {
                "quantity": "1: an export line is one item",
                "unit_price": "the product's price on the order's day (raw_products.price)",
                "ordered_at": "its order's (raw_orders.ordered_at)",
            },
            ("orders", "products"),
        ),
        Shape(
            "tweets",
            "raw_tweets",
            {"id": "tweet_id", "user_id": "customer_id", "tweeted_at": "tweeted_at", "content": "content"},
        ),
    )
}


def dataset_of(source: str, table: str) -> Dataset:
    return DATASETS[f"{source}.{table}"]


def _missing(header: list[str], wanted: list[str]) -> list[str]:
    return [c for c in wanted if c not in header]


def format_of(header: list[str], dataset: Dataset) -> str:
    """The format of a file of `dataset` with this header; WrongColumns naming what each format lacks."""
    if not _missing(header, dataset.column_names):
        return NATIVE
    shape = EXPORT.get(dataset.table) if dataset.source == "jaffle_shop" else None
    if shape and not _missing(header, shape.columns):
        return EXPORT_FORMAT
    lacks = f"missing column(s) {', '.join(_missing(header, dataset.column_names))} of {dataset.name}"
    if shape:
        lacks += (
            f" (native format), or {', '.join(_missing(header, shape.columns))} of the Jaffle Shop "
            f"export {shape.file}"
        )
    raise WrongColumns(f"{lacks}; found {', '.join(map(str, header)) or 'no columns'}")


def identify(header: list[str], datasets: list[Dataset]) -> tuple[Dataset, str]:
    """The dataset and format of a file found directly in its source's folder, from its header alone."""
    candidates: list[tuple[int, Dataset, str]] = []
    for dataset in datasets:
        shapes = [(NATIVE, dataset.column_names)]
        if dataset.source == "jaffle_shop" and dataset.table in EXPORT:
            shapes.append((EXPORT_FORMAT, EXPORT[dataset.table].columns))
        candidates += [(len(cols), dataset, fmt) for fmt, cols in shapes if not _missing(header, cols)]
    if candidates:
        widest = max(n for n, _, _ in candidates)
        best = [(d, f) for n, d, f in candidates if n == widest]
        if len({d.name for d, _ in best}) == 1:
            return best[0]
        names = ", ".join(f"{d.name} ({f})" for d, f in best)
        raise WrongColumns(f"the header fits more than one table ({names}): put it in its table's folder")
    closest_native = min(datasets, key=lambda d: len(_missing(header, d.column_names)))
    lacks = (
        f"matches no table: the closest native table, {closest_native.name}, lacks "
        f"{', '.join(_missing(header, closest_native.column_names))}"
    )
    exports = [EXPORT[d.table] for d in datasets if d.source == "jaffle_shop" and d.table in EXPORT]
    if exports:
        closest = min(exports, key=lambda s: len(_missing(header, s.columns)))
        lacks += (
            f"; the closest Jaffle Shop export, {closest.file}, lacks "
            f"{', '.join(_missing(header, closest.columns))}"
        )
    raise WrongColumns(f"{lacks}; found {', '.join(map(str, header)) or 'no columns'}")


# --- from an export to its raw table ------------------------------------------------------------


def _typed(frame: pd.DataFrame, source: str, table: str, column: str) -> pd.Series:
    return _coerce(frame[column], dataset_of(source, table).column(column))


def _problem(frame: pd.DataFrame, mask: pd.Series, text: str | pd.Series) -> None:
    mask = mask.fillna(False).astype(bool).to_numpy()
    if not mask.any():
        return
    current = frame[PROBLEM].astype("string").fillna("")
    note = text[mask] if isinstance(text, pd.Series) else text
    joined = current[mask].where(current[mask] == "", current[mask] + "; ") + note
    frame.loc[mask, PROBLEM] = joined.to_numpy()


def _products(frame: pd.DataFrame, related: dict[str, pd.DataFrame], source: str) -> pd.DataFrame:
    opened = _typed(related["stores"], source, "stores", "opened_at").min()
    frame["valid_from"] = pd.Series(opened, index=frame.index).astype("datetime64[us]").dt.normalize()
    frame["valid_to"] = pd.Series(NO_END, index=frame.index)
    _problem(frame, frame["valid_from"].isna(), "no store with an opening day in the landing")
    return frame


def _customers(frame: pd.DataFrame, related: dict[str, pd.DataFrame], source: str) -> pd.DataFrame:
    orders = related["orders"]
    first = (
        pd.DataFrame(
            {"customer_id": orders["customer_id"], "at": _typed(orders, source, "orders", "ordered_at")}
        )
        .groupby("customer_id")["at"]
        .min()
    )
    frame["first_seen_at"] = frame["customer_id"].map(first).astype("datetime64[us]")
    _problem(frame, frame["first_seen_at"].isna(), "no order of this customer in the landing")
    return frame


def _orders(frame: pd.DataFrame, related: dict[str, pd.DataFrame], source: str) -> pd.DataFrame:
    frame["session_id"] = pd.Series(pd.NA, index=frame.index, dtype="string")
    return frame


def _order_items(frame: pd.DataFrame, related: dict[str, pd.DataFrame], source: str) -> pd.DataFrame:
    orders = related["orders"]
    when = (
        pd.Series(_typed(orders, source, "orders", "ordered_at").to_numpy(), index=orders["order_id"])
        .groupby(level=0)
        .first()
    )
    frame["ordered_at"] = frame["order_id"].map(when).astype("datetime64[us]")
    _problem(frame, frame["ordered_at"].isna(), "its order is not in the landing")
    products = related["products"]
    prices = pd.DataFrame(
        {
            "sku": products["sku"].astype("string"),
            "price": _typed(products, source, "products", "price"),
            "valid_from": _typed(products, source, "products", "valid_from"),
            "valid_to": _typed(products, source, "products", "valid_to"),
        }
    )
    lines = frame[["sku", "ordered_at"]].astype({"sku": "string"}).reset_index()
    matched = lines.merge(prices, on="sku", how="left")
    day = matched["ordered_at"].dt.normalize()
    valid = (matched["valid_from"] <= day) & (day < matched["valid_to"])
    price = matched[valid.fillna(False)].groupby("index")["price"].first()
    frame["unit_price"] = pd.Series(frame.index, index=frame.index).map(price).astype("Int64")
    frame["quantity"] = 1
    _problem(
        frame,
        frame["unit_price"].isna() & frame["ordered_at"].notna(),
        "sku " + frame["sku"].astype("string").fillna("") + " has no price on the order's day in the landing",
    )
    return frame


DERIVE: dict[str, Callable[[pd.DataFrame, dict[str, pd.DataFrame], str], pd.DataFrame]] = {
    "products": _products,
    "customers": _customers,
    "orders": _orders,
    "order_items": _order_items,
}


def in_dependency_order(tables: list[str]) -> list[str]:
    """Tables ordered so that every export's needs come before it."""
    out: list[str] = []

    def visit(table: str) -> None:
        if table in out:
            return
        for need in EXPORT[table].needs if table in EXPORT else ():
            if need in tables:
                visit(need)
        out.append(table)

    for table in tables:
        visit(table)
    return out


def to_native(
    exports: dict[str, list[tuple[str, pd.DataFrame]]],
    natives: dict[str, list[tuple[str, pd.DataFrame]]],
    source: str,
) -> dict[str, list[tuple[str, pd.DataFrame]]]:
    """Every export file of a source as its raw table: renamed, then derived from the landing's other
    tables (themselves made native first). IncompleteLanding when a table it needs has no file."""
    present = set(exports) | set(natives)
    lacking = []
    for table in sorted(exports):
        absent = [EXPORT[need].file for need in EXPORT[table].needs if need not in present]
        if absent:
            lacking.append(f"{EXPORT[table].file} needs {', '.join(absent)}")
    if lacking:
        raise IncompleteLanding(
            "Jaffle Shop exports derive columns from each other, and some were not in the landing: "
            + "; ".join(lacking)
            + ". Nothing was landed; the files were left where they are"
        )
    done: dict[str, list[tuple[str, pd.DataFrame]]] = {t: list(files) for t, files in natives.items()}
    for table in in_dependency_order(sorted(set(exports) | set(natives))):
        if table not in exports:
            continue
        shape = EXPORT[table]
        related = {need: pd.concat([f for _, f in done[need]], ignore_index=True) for need in shape.needs}
        for path, frame in exports[table]:
            native = frame[shape.columns].rename(columns=shape.renamed)
            native[PROBLEM] = pd.Series(pd.NA, index=native.index, dtype="string")
            native = DERIVE[table](native, related, source) if table in DERIVE else native
            done.setdefault(table, []).append((path, native))
    return done


def mapping_table() -> str:
    """The export format as a Markdown table (canonical column -> raw column or derivation)."""
    lines = ["| export file | export column | raw table | raw column |", "| --- | --- | --- | --- |"]
    for shape in EXPORT.values():
        for export_column, raw in shape.renamed.items():
            lines.append(f"| `{shape.file}` | `{export_column}` | `{shape.table}` | `{raw}` |")
        for raw, how in shape.derived.items():
            lines.append(f"| `{shape.file}` | (derived) | `{shape.table}` | `{raw}`: {how} |")
    return "\n".join(lines) + "\n"
