"""jaffle_dbt_transform.pg_load on its own: the raw lake copied into a real PostgreSQL database (the
`postgres` fixture's, fresh per test), the columns dbt declares it reads, whole or by the run's window.
(test_flows.py builds the dbt projects on top of this copy; these tests look at the copy itself.)"""

from __future__ import annotations

from datetime import date

import duckdb
import pytest
from jaffle_dbt_transform import pg_load, sources
from jaffle_dbt_transform.settings import DbtSettings

DAY1, DAY2 = date(2020, 3, 1), date(2020, 3, 2)
# The conftest lake's rows per table; the daily ones by day.
ROWS = {
    "raw_jaffle_shop.stores": 2,
    "raw_jaffle_shop.products": 2,
    "raw_jaffle_shop.supplies": 1,
    "raw_jaffle_shop.customers": 2,
    "raw_jaffle_shop.orders": 3,
    "raw_jaffle_shop.order_items": 4,
    "raw_marketing.ad_spend": 1,
    "raw_marketing.web_sessions": 3,
}
DAILY = {"customers", "orders", "order_items", "ad_spend", "web_sessions"}
ORDERS = "select order_id, order_total, _partition_date from raw_jaffle_shop.orders order by 1"


def _load(start: date, end: date, full_refresh: bool = False, **kwargs) -> dict[str, pg_load.Loaded]:
    settings = DbtSettings()
    loaded = pg_load.load(settings.storage, settings.pg_dsn, start, end, full_refresh, **kwargs)
    return {item.table: item for item in loaded}


def _rewrite_orders(land_raw, day: str, order_total: int) -> None:
    """Replace one day's orders in the lake with a single order of that total."""
    land_raw(
        f"jaffle_shop/orders/date={day}",
        f"""select * from (values ('ord-{day}', 'store-001', 'cust-1', timestamp '{day} 12:00', null, 1, 0,
            {order_total})) t(order_id, store_id, customer_id, ordered_at, session_id, subtotal, tax_paid,
            order_total)""",
    )


def test_duckdb_types_map_to_postgres_ones_and_an_unmapped_one_is_named():
    assert pg_load._pg_type("DECIMAL(18,3)") == "numeric"
    assert pg_load._pg_type("TIMESTAMP WITH TIME ZONE") == "timestamptz"
    assert pg_load._pg_type("INTEGER") == "bigint"
    with pytest.raises(TypeError, match="no PostgreSQL type for DuckDB type BLOB"):
        pg_load._pg_type("BLOB")


def test_a_source_dbt_reads_nothing_from_is_named_before_anything_is_loaded():
    # no server needed: the source is checked before the loader connects
    with pytest.raises(ValueError, match=r"no raw source 'crm'; dbt reads jaffle_shop, marketing"):
        pg_load.load(DbtSettings().storage, "host=nowhere.invalid", DAY1, DAY2, False, ("crm",))


@pytest.mark.postgres
def test_a_first_load_copies_every_table_whole_with_only_the_declared_columns(data_dir, postgres):
    loaded = _load(DAY2, DAY2)

    assert {table: item.rows for table, item in loaded.items()} == ROWS
    assert {item.days for item in loaded.values()} == {"all"}  # nothing was there: all days, not the window
    read = sources.consumed()
    for table in loaded:
        schema, name = table.split(".")
        columns = postgres(
            "select column_name from information_schema.columns "
            f"where table_schema = '{schema}' and table_name = '{name}' order by ordinal_position"
        )
        partition = ["_partition_date"] if name in DAILY else []
        assert [c for (c,) in columns] == read[schema.removeprefix("raw_")][name] + partition, table
    types = postgres(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = 'raw_jaffle_shop' and table_name = 'orders'"
    )
    assert dict(types) == {
        "order_id": "text",
        "store_id": "text",
        "customer_id": "text",
        "ordered_at": "timestamp without time zone",
        "session_id": "text",
        "subtotal": "bigint",
        "tax_paid": "bigint",
        "order_total": "bigint",
        "_partition_date": "date",
    }
    assert postgres(ORDERS) == [("ord-1", 1768, DAY1), ("ord-2", 1166, DAY1), ("ord-3", 624, DAY2)]
    # a null in the lake is a null in PostgreSQL, not the text of the CSV's null marker
    assert postgres("select session_id from raw_jaffle_shop.orders where order_id = 'ord-2'") == [(None,)]


@pytest.mark.postgres
def test_a_later_load_replaces_only_its_windows_days_and_a_full_refresh_replaces_all(
    data_dir, land_raw, postgres
):
    _load(DAY1, DAY2)
    _rewrite_orders(land_raw, "2020-03-01", 100)
    _rewrite_orders(land_raw, "2020-03-02", 200)

    loaded = _load(DAY2, DAY2)
    assert loaded["raw_jaffle_shop.orders"] == pg_load.Loaded(
        "raw_jaffle_shop.orders", 1, "2020-03-02..2020-03-02"
    )
    assert loaded["raw_jaffle_shop.stores"].days == "all"  # reference tables are always whole
    assert postgres(ORDERS) == [("ord-1", 1768, DAY1), ("ord-2", 1166, DAY1), ("ord-2020-03-02", 200, DAY2)]

    loaded = _load(DAY2, DAY2, full_refresh=True)
    assert loaded["raw_jaffle_shop.orders"] == pg_load.Loaded("raw_jaffle_shop.orders", 2, "all")
    assert postgres(ORDERS) == [("ord-2020-03-01", 100, DAY1), ("ord-2020-03-02", 200, DAY2)]


@pytest.mark.postgres
def test_only_the_named_sources_are_loaded_and_a_table_missing_from_the_lake_is_skipped(data_dir, postgres):
    import shutil

    shutil.rmtree(data_dir / "lake" / "raw" / "jaffle_shop" / "supplies")
    loaded = _load(DAY1, DAY2, sources=("jaffle_shop",))
    assert sorted(loaded) == sorted(
        t for t in ROWS if t.startswith("raw_jaffle_shop.") and "supplies" not in t
    )
    assert postgres(
        "select to_regclass('raw_marketing.ad_spend'), to_regclass('raw_jaffle_shop.supplies')"
    ) == [(None, None)]


@pytest.mark.postgres
def test_a_table_that_fails_to_load_keeps_its_previous_rows_and_the_error_names_the_column(
    data_dir, postgres
):
    _load(DAY1, DAY2)
    before = postgres(ORDERS)
    # The lake's orders now carry text where PostgreSQL's table has numbers: the copy fails mid-load.
    for day in ("2020-03-01", "2020-03-02"):
        part = data_dir / "lake" / "raw" / "jaffle_shop" / "orders" / f"date={day}" / "part-0.parquet"
        duckdb.sql(
            f"copy (select * replace ('a lot' as order_total) from read_parquet('{part}')) "
            f"to '{part}' (format parquet)"
        )
    import psycopg2

    with pytest.raises(psycopg2.errors.InvalidTextRepresentation, match=r'(?s)"a lot".*order_total'):
        _load(DAY1, DAY2, full_refresh=True)
    assert postgres(ORDERS) == before


@pytest.mark.postgres
def test_a_column_declared_since_the_table_was_made_is_added_not_a_failed_copy(data_dir, postgres):
    """A table an earlier declaration made (dbt read fewer columns then) gains the newly declared
    columns; it is not dropped, since dbt's staging views depend on it."""
    import contextlib

    import psycopg2

    with contextlib.closing(psycopg2.connect(DbtSettings().pg_dsn)) as pg, pg, pg.cursor() as cur:
        cur.execute(
            "create schema raw_jaffle_shop; create table raw_jaffle_shop.stores (store_id text); "
            "insert into raw_jaffle_shop.stores values ('store-old'); "
            "create view raw_jaffle_shop.a_dependent_view as select store_id from raw_jaffle_shop.stores"
        )
    loaded = _load(DAY1, DAY2, sources=("jaffle_shop",))
    assert loaded["raw_jaffle_shop.stores"].rows == 2
    assert postgres("select store_id, store_name from raw_jaffle_shop.stores order by 1") == [
        ("store-001", "Philadelphia"),
        ("store-002", "Brooklyn"),
    ]
    assert postgres("select count(*) from raw_jaffle_shop.a_dependent_view") == [(2,)]
