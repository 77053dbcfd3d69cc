from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from jaffle_contract import contracts

# The producers' declarations, read from the workspace's sources (this environment does not have the
# ingestion package: that is the point of isolated environments). Every fixture file below is written
# with the columns and types its producer declares, so a producer that renames, drops or retypes a
# column the dbt models read fails these tests, not the end-to-end run.
PRODUCERS = contracts.producers(contracts.load_all(Path(__file__).resolve().parents[3]))


def as_declared(dataset: str, query: str) -> str:
    """`query`'s rows with exactly the declared columns of `dataset`, cast to their declared types; a
    null where the declaration forbids one is an error here."""
    _, declared = PRODUCERS[dataset]
    for column in declared.columns:
        if not column.nullable and column.name in duckdb.sql(query).columns:
            nulls = duckdb.sql(f"select count(*) from ({query}) where {column.name} is null").fetchone()
            assert nulls == (0,), f"the fixture for {dataset} has nulls in {column.name}, declared not null"
    return contracts.select_as_declared(declared, f"({query})", duckdb.sql(query).columns)


def land(raw: Path, table: str, query: str) -> Path:
    """Write one fixture file at `raw/<source>/<table>[/date=...]/part-0.parquet`, as declared."""
    source, name = table.split("/")[:2]
    folder = raw / table
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "part-0.parquet"
    duckdb.sql(f"copy ({as_declared(f'raw.{source}.{name}', query)}) to '{target}' (format parquet)")
    return target


# A tiny lake in the ingestion team's layout, small enough that the attribution credits below can be
# worked out by hand.
FIXTURES = {
    "jaffle_shop/stores": """select * from (values
        ('store-001', 'Philadelphia', timestamp '2016-09-01 08:00', 0.04),
        ('store-002', 'Brooklyn', timestamp '2017-01-29 08:00', 0.06))
        t(store_id, store_name, opened_at, tax_rate)""",
    "jaffle_shop/products": """select * from (values
        ('JAF-001', 'nutellaphone who dis?', 'jaffle', 1100, date '2020-01-01', date '2021-01-01'),
        ('BEV-001', 'tangaroo', 'beverage', 600, date '2020-01-01', date '2021-01-01'))
        t(sku, product_name, product_type, price, valid_from, valid_to)""",
    "jaffle_shop/supplies": """select * from (values ('SUP-001', 'napkin', 4, false, 'JAF-001'))
        t(supply_id, supply_name, cost, perishable, sku)""",
    "jaffle_shop/customers/date=2020-03-01": """select * from (values
        ('cust-1', 'Ava Adams', timestamp '2020-03-01'), ('cust-2', 'Ben Baker', timestamp '2020-03-01'))
        t(customer_id, customer_name, first_seen_at)""",
    "jaffle_shop/orders/date=2020-03-01": """select * from (values
        ('ord-1', 'store-001', 'cust-1', timestamp '2020-03-01 12:00', 'sess-1', 1700, 68, 1768),
        ('ord-2', 'store-002', 'cust-2', timestamp '2020-03-01 13:00', null, 1100, 66, 1166))
        t(order_id, store_id, customer_id, ordered_at, session_id, subtotal, tax_paid, order_total)""",
    "jaffle_shop/orders/date=2020-03-02": """select * from (values
        ('ord-3', 'store-001', 'cust-1', timestamp '2020-03-02 18:00', 'sess-3', 600, 24, 624))
        t(order_id, store_id, customer_id, ordered_at, session_id, subtotal, tax_paid, order_total)""",
    "jaffle_shop/order_items/date=2020-03-01": """select * from (values
        ('ord-1-0', 'ord-1', 'JAF-001', 1, 1100, timestamp '2020-03-01 12:00'),
        ('ord-1-1', 'ord-1', 'BEV-001', 1, 600, timestamp '2020-03-01 12:00'),
        ('ord-2-0', 'ord-2', 'JAF-001', 1, 1100, timestamp '2020-03-01 13:00'))
        t(order_item_id, order_id, sku, quantity, unit_price, ordered_at)""",
    "jaffle_shop/order_items/date=2020-03-02": """select * from (values
        ('ord-3-0', 'ord-3', 'BEV-001', 1, 600, timestamp '2020-03-02 18:00'))
        t(order_item_id, order_id, sku, quantity, unit_price, ordered_at)""",
    "marketing/ad_spend/date=2020-03-01": """select * from (values
        (date '2020-03-01', 'paid_search', 'brand', 'google', 'cpc', 2500))
        t(spend_date, channel, campaign, utm_source, utm_medium, spend)""",
    "marketing/web_sessions/date=2020-03-01": """select * from (values
        ('sess-0', timestamp '2020-02-29 10:00', 'paid_search', 'brand', 'google', 'cpc', 'brand', 'cust-1'),
        ('sess-1', timestamp '2020-03-01 11:50', 'email', 'newsletter', 'mailchimp', 'email', 'newsletter',
         'cust-1'),
        ('sess-3', timestamp '2020-03-02 17:50', 'paid_search', 'brand', 'google', 'cpc', 'brand', null))
        t(session_id, started_at, channel, campaign, utm_source, utm_medium, utm_campaign, customer_id)""",
}


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    raw = tmp_path / "lake" / "raw"
    for table, query in FIXTURES.items():
        land(raw, table, query)
    monkeypatch.setenv("JAFFLE_DATA_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture(scope="session")
def prefect_api():
    """A real Prefect API with the warehouse slot the platform's `up` creates: one for the suite (a
    server starts in about 20 s; every test reads back only its own runs)."""
    from jaffle_dbt_transform.settings import DbtSettings
    from prefect.client.orchestration import get_client as sync_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        with sync_client(sync_client=True) as client:
            client.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(name=DbtSettings().warehouse_limit, limit=1)
            )
        yield


@pytest.fixture
def land_raw(data_dir):
    """Land one more fixture file in the test's lake, as its producer declares it."""
    return lambda table, query: land(data_dir / "lake" / "raw", table, query)


@pytest.fixture
def postgres(monkeypatch):
    """A fresh PostgreSQL database for one test, and the dbt target pointed at it.

    Skips with the reason when no server answers, except in CI, where that is a failure.
    """
    import contextlib
    import os
    import uuid

    import psycopg2

    params = {
        "host": os.environ.get("JAFFLE_PG_HOST", "127.0.0.1"),
        "port": int(os.environ.get("JAFFLE_PG_PORT", "5432")),
        "user": os.environ.get("JAFFLE_PG_USER", "jaffle"),
        "password": os.environ.get("JAFFLE_PG_PASSWORD", "jaffle"),
    }
    try:
        admin = psycopg2.connect(dbname=os.environ.get("JAFFLE_PG_DATABASE", "jaffle"), **params)
    except psycopg2.OperationalError as error:
        message = f"PostgreSQL not reachable as {params['user']}@{params['host']}:{params['port']}: {error}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    admin.autocommit = True
    name = f"jaffle_test_{uuid.uuid4().hex[:10]}"
    with admin.cursor() as cur:
        cur.execute(f'create database "{name}"')
    monkeypatch.setenv("JAFFLE_DBT_TARGET", "postgres")
    monkeypatch.setenv("JAFFLE_PG_PASSWORD", params["password"])
    monkeypatch.setenv("JAFFLE_PG_DATABASE", name)

    def query(sql):
        with contextlib.closing(psycopg2.connect(dbname=name, **params)) as con, con.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()

    yield query
    with admin.cursor() as cur:
        try:  # `force` ends the sessions dbt may have left, but not an autovacuum worker on the new
            # database when the role is not a superuser; a plain drop ends that worker itself
            cur.execute(f'drop database if exists "{name}" with (force)')
        except psycopg2.errors.InsufficientPrivilege:
            cur.execute(f'drop database if exists "{name}"')
    admin.close()
