from __future__ import annotations

from datetime import date

import duckdb
import pytest
from jaffle_dbt.flows import dbt_attribution, dbt_jaffle_shop
from jaffle_dbt.runner import DbtBuildFailed
from prefect.testing.utilities import prefect_test_harness


@pytest.fixture(scope="module", autouse=True)
def prefect_api():
    with prefect_test_harness():
        yield


def _query(data_dir, sql):
    # Same configuration as dbt-duckdb's connection, which stays open in this process.
    with duckdb.connect(str(data_dir / "warehouse" / "jaffle_shop.duckdb")) as con:
        return con.sql(sql).fetchall()


def test_jaffle_shop_marts_are_built_and_tested(data_dir):
    result = dbt_jaffle_shop(date(2020, 3, 1), date(2020, 3, 2))
    statuses = {n["node"]: n["status"] for n in result["nodes"]}
    assert statuses["orders"] == statuses["daily_store_revenue"] == "success"
    assert any(n["type"] == "test" and n["status"] == "pass" for n in result["nodes"])
    assert _query(data_dir, "select order_id, count_items, customer_order_number from orders order by 1") == [
        ("ord-1", 2, 1),
        ("ord-2", 1, 1),
        ("ord-3", 1, 2),
    ]
    assert _query(
        data_dir, "select order_date, location_id, revenue from daily_store_revenue order by 1, 2"
    ) == [
        (date(2020, 3, 1), "store-001", 17.0),
        (date(2020, 3, 1), "store-002", 11.0),
        (date(2020, 3, 2), "store-001", 6.0),
    ]
    assert _query(data_dir, "select customer_id, customer_type from customers order by 1") == [
        ("cust-1", "returning"),
        ("cust-2", "new"),
    ]


def test_attribution_credits_last_and_first_touch(data_dir):
    dbt_jaffle_shop(date(2020, 3, 1), date(2020, 3, 2))
    dbt_attribution(date(2020, 3, 1), date(2020, 3, 2))
    rows = _query(
        data_dir,
        """select order_id, first_touch_channel, last_touch_channel, count_touches
                               from attributed_orders order by 1""",
    )
    assert rows == [("ord-1", "paid_search", "email", 2), ("ord-3", "paid_search", "paid_search", 3)]
    perf = _query(
        data_dir,
        """select spend, count_orders from channel_performance
                               where activity_date = '2020-03-01' and channel = 'paid_search'""",
    )
    assert perf == [(25.0, 0)]


def test_a_failing_data_test_fails_the_flow_and_names_it(data_dir):
    # A duplicated order id breaks the `unique` test on stg_jaffle_shop__orders.
    dup = data_dir / "lake" / "raw" / "jaffle_shop" / "orders" / "date=2020-03-03"
    dup.mkdir()
    duckdb.sql(f"""copy (select 'ord-1' as order_id, 'store-001' as store_id, 'cust-1' as customer_id,
                   timestamp '2020-03-03 12:00' as ordered_at, null as session_id, 1 as subtotal,
                   0 as tax_paid, 1 as order_total) to '{dup / "part-0.parquet"}' (format parquet)""")
    with pytest.raises(DbtBuildFailed, match="unique_stg_jaffle_shop__orders_order_id"):
        dbt_jaffle_shop(date(2020, 3, 1), date(2020, 3, 3))


def test_end_before_start_is_rejected():
    with pytest.raises(ValueError, match="end_date 2020-03-01 is before start_date 2020-03-02"):
        dbt_jaffle_shop(date(2020, 3, 2), date(2020, 3, 1))
