from __future__ import annotations

import subprocess
import sys
import time
from datetime import date

import duckdb
import pytest
from jaffle_data import coverage
from jaffle_data.storage import Storage
from jaffle_dbt_transform import runner
from jaffle_dbt_transform.flows import dbt_attribution, dbt_jaffle_shop
from jaffle_dbt_transform.runner import DbtBuildFailed
from jaffle_dbt_transform.settings import DbtSettings
from prefect import get_client
from prefect.artifacts import Artifact
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

# A real Prefect API with the warehouse slot the platform's `up` creates (conftest.py).
pytestmark = pytest.mark.usefixtures("prefect_api")


def _warehouse_slots(**update) -> int:
    """The warehouse limit's active slots (after applying `update`, e.g. active_slots=1)."""
    from prefect.client.orchestration import get_client as sync_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate

    name = DbtSettings().warehouse_limit
    with sync_client(sync_client=True) as client:
        if update:
            client.update_global_concurrency_limit(name, GlobalConcurrencyLimitUpdate(**update))
        return client.read_global_concurrency_limit_by_name(name).active_slots


def test_a_build_waits_for_the_warehouse_slot_and_names_it_when_it_gives_up(data_dir, monkeypatch):
    monkeypatch.setenv("JAFFLE_DBT_LOCK_TIMEOUT_SECONDS", "3")
    _warehouse_slots(active_slots=1)  # another build holds the only slot
    try:
        with pytest.raises(TimeoutError, match="for the 'jaffle-warehouse' concurrency slot"):
            dbt_jaffle_shop(date(2020, 3, 1), date(2020, 3, 2), docs=False)
        assert not (data_dir / "warehouse" / "jaffle_shop.duckdb").exists()  # nothing was built
    finally:
        _warehouse_slots(active_slots=0)
    dbt_jaffle_shop(date(2020, 3, 1), date(2020, 3, 2), docs=False)
    assert _warehouse_slots() == 0  # the build released the slot it held


def _published(data_dir, project, sql):
    with duckdb.connect(str(data_dir / "warehouse" / f"{project}.duckdb"), read_only=True) as con:
        return con.sql(sql).fetchall()


def _raw(data_dir, sql):
    """Independent numbers: DuckDB straight over the raw Parquet, no dbt involved."""
    lake = data_dir / "lake" / "raw"
    sql = sql.replace("{orders}", f"read_parquet('{lake}/jaffle_shop/orders/*/*.parquet')")
    sql = sql.replace("{order_items}", f"read_parquet('{lake}/jaffle_shop/order_items/*/*.parquet')")
    return duckdb.sql(sql).fetchall()


def test_jaffle_shop_marts_match_numbers_computed_from_the_raw_lake(data_dir):
    state = dbt_jaffle_shop(date(2020, 3, 1), date(2020, 3, 2), return_state=True)
    result = state.result()

    assert {n["type"] for n in result["nodes"]} >= {"model", "test"}
    assert all(n["status"] in {"success", "pass"} for n in result["nodes"])
    revenue = _published(
        data_dir,
        "jaffle_shop",
        "select order_date, location_id, count_orders, count_items, revenue "
        "from daily_store_revenue order by 1, 2",
    )
    expected = _raw(
        data_dir,
        """select cast(o.ordered_at as date), o.store_id, count(distinct o.order_id),
                  sum(i.quantity), sum(distinct_sub.subtotal) / 100.0
           from {orders} o
           join (select order_id, subtotal from {orders}) distinct_sub using (order_id)
           join (select order_id, sum(quantity) as quantity from {order_items} group by 1) i using (order_id)
           group by 1, 2 order by 1, 2""",
    )
    assert revenue == expected
    counts = _published(
        data_dir,
        "jaffle_shop",
        "select (select count(*) from orders), (select count(*) from order_items), "
        "(select count(*) from customers), (select count(*) from products), (select count(*) from stores)",
    )
    assert counts == [(3, 4, 2, 2, 2)]
    assert _published(
        data_dir, "jaffle_shop", "select lifetime_spend from customers where customer_id = 'cust-1'"
    ) == [(23.92,)]
    this_run = FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
    with get_client(sync_client=True) as client:  # the suite shares one server: this run's tasks
        tasks = {t.name for t in client.read_task_runs(flow_run_filter=this_run)}
    assert {"model daily_store_revenue", "model orders"} <= tasks  # each dbt node is its own task run
    assert any(name.startswith("test unique_orders_order_id") for name in tasks), sorted(tasks)
    docs = Artifact.get("dbt-docs-jaffle-shop")
    assert docs is not None and (data_dir / "dbt/jaffle_shop/docs/index.html").exists()


def test_attribution_credits_first_last_and_linear_touch(data_dir):
    dbt_jaffle_shop(date(2020, 3, 1), date(2020, 3, 2), docs=False)
    result = dbt_attribution(date(2020, 3, 1), date(2020, 3, 2), docs=False)
    assert any(n["type"] == "unit_test" for n in result["nodes"])

    # ord-1 (17.00, own session sess-1 by email) was preceded by cust-1's paid_search sess-0;
    # ord-3 (6.00, own anonymous paid_search sess-3) by cust-1's sess-0 and sess-1 in the last 7 days;
    # ord-2 was a walk-in with no web touch.
    touches = _published(
        data_dir,
        "attribution",
        "select order_id, session_id, touch_number, count_touches, linear_revenue "
        "from order_touchpoints order by 1, 3",
    )
    assert touches == [
        ("ord-1", "sess-0", 1, 2, 8.5),
        ("ord-1", "sess-1", 2, 2, 8.5),
        ("ord-3", "sess-0", 1, 3, 2.0),
        ("ord-3", "sess-1", 2, 3, 2.0),
        ("ord-3", "sess-3", 3, 3, 2.0),
    ]
    performance = _published(
        data_dir,
        "attribution",
        "select activity_date, channel, spend, first_touch_revenue, last_touch_revenue, linear_revenue, "
        "roas_linear from channel_performance order by 1, 2",
    )
    assert performance == [
        (date(2020, 2, 29), "paid_search", 0, 0, 0, 0, None),
        (date(2020, 3, 1), "email", 0, 0, 17.0, 8.5, None),
        (date(2020, 3, 1), "paid_search", 25.0, 17.0, 0, 8.5, 0.34),
        (date(2020, 3, 2), "email", 0, 0, 0, 2.0, None),
        (date(2020, 3, 2), "paid_search", 0, 6.0, 6.0, 4.0, None),
    ]


def test_attribution_before_any_jaffle_shop_build_names_what_to_run(data_dir):
    with pytest.raises(DbtBuildFailed, match="run the dbt-jaffle-shop flow first"):
        dbt_attribution(date(2020, 3, 1), date(2020, 3, 2))


def _rewrite_orders(data_dir, day, subtotal):
    part = data_dir / "lake" / "raw" / "jaffle_shop" / "orders" / f"date={day}" / "part-0.parquet"
    duckdb.sql(
        f"copy (select * replace (cast({subtotal} as bigint) as subtotal) from read_parquet('{part}')) "
        f"to '{part}.new' (format parquet)"
    )
    (part.parent / "part-0.parquet.new").replace(part)


def test_an_incremental_run_rebuilds_only_its_range_and_full_refresh_rebuilds_all(data_dir):
    dbt_jaffle_shop(date(2020, 3, 1), date(2020, 3, 2), docs=False)
    _rewrite_orders(data_dir, "2020-03-01", 9900)
    _rewrite_orders(data_dir, "2020-03-02", 9900)
    query = "select order_date, sum(revenue) from daily_store_revenue group by 1 order by 1"

    dbt_jaffle_shop(date(2020, 3, 2), date(2020, 3, 2), docs=False)
    assert _published(data_dir, "jaffle_shop", query) == [(date(2020, 3, 1), 28.0), (date(2020, 3, 2), 99.0)]

    dbt_jaffle_shop(date(2020, 3, 2), date(2020, 3, 2), full_refresh=True, docs=False)
    assert _published(data_dir, "jaffle_shop", query) == [(date(2020, 3, 1), 198.0), (date(2020, 3, 2), 99.0)]


def test_a_failing_data_test_fails_the_flow_and_names_it(data_dir, land_raw):
    dbt_jaffle_shop(date(2020, 3, 1), date(2020, 3, 2), docs=False)
    before = _published(data_dir, "jaffle_shop", "select count(*) from orders")
    # An order at a store nobody opened breaks the relationships test of the orders mart.
    land_raw(
        "jaffle_shop/orders/date=2020-03-03",
        """select 'ord-9' as order_id, 'store-404' as store_id, 'cust-1' as customer_id,
           timestamp '2020-03-03 12:00' as ordered_at, null as session_id, 1 as subtotal,
           0 as tax_paid, 1 as order_total""",
    )
    with pytest.raises(
        DbtBuildFailed, match=r"test relationships_orders_location_id__location_id__ref_stores_: fail"
    ):
        dbt_jaffle_shop(date(2020, 3, 1), date(2020, 3, 3), docs=False)
    # Readers still see the last good build: a failed build is never published.
    assert _published(data_dir, "jaffle_shop", "select count(*) from orders") == before


def test_a_customer_landed_again_on_a_later_day_is_one_customer_first_seen_at_the_earliest(
    data_dir, land_raw
):
    # A second export whose orders begin later lands cust-1 in another day's partition, first seen then.
    land_raw(
        "jaffle_shop/customers/date=2020-03-02",
        "select 'cust-1' as customer_id, 'Ava Adams' as customer_name, "
        "timestamp '2020-03-02' as first_seen_at",
    )
    dbt_jaffle_shop(date(2020, 3, 1), date(2020, 3, 2), docs=False)  # its unique test on customer_id passes
    customers = "select count(*), count(distinct customer_id) from customers"
    assert _published(data_dir, "jaffle_shop", customers) == [(2, 2)]


def _land_day(data_dir, land_raw, day: str, orders: str | None) -> None:
    """One more day in the lake: an order and its item (`orders` None: a corrupt orders file)."""
    land_raw(
        f"jaffle_shop/order_items/date={day}",
        f"""select 'ord-4-0' as order_item_id, 'ord-4' as order_id, 'BEV-001' as sku,
            1 as quantity, 600 as unit_price, timestamp '{day} 09:00' as ordered_at""",
    )
    if orders is None:
        order = data_dir / "lake" / "raw" / "jaffle_shop" / "orders" / f"date={day}"
        order.mkdir(exist_ok=True)
        (order / "part-0.parquet").write_bytes(b"PAR1 torn by a disk that filled up")
        return
    land_raw(
        f"jaffle_shop/orders/date={day}",
        f"""select 'ord-4' as order_id, 'store-001' as store_id, 'cust-2' as customer_id,
            timestamp '{day} 09:00' as ordered_at, null as session_id, {orders} as subtotal,
            24 as tax_paid, {orders} + 24 as order_total""",
    )


def test_a_build_that_ends_before_it_publishes_leaves_nothing_for_the_next_build_to_build_on(
    data_dir, land_raw
):
    dbt_jaffle_shop(date(2020, 3, 1), date(2020, 3, 2), docs=False)
    # A new day whose items read well and whose orders file is torn: the items mart takes the day,
    # the orders mart (built after it) fails, and the build stops before it publishes.
    _land_day(data_dir, land_raw, "2020-03-03", orders=None)
    with pytest.raises(DbtBuildFailed, match="No magic bytes found at end of file"):
        dbt_jaffle_shop(date(2020, 3, 3), date(2020, 3, 3), docs=False)
    # The operator mends the file; the next scheduled build is of another day. Building on what the
    # failed build left would give an item whose order is in no window built since.
    _land_day(data_dir, land_raw, "2020-03-03", orders=600)
    dbt_jaffle_shop(date(2020, 3, 2), date(2020, 3, 2), docs=False)
    query = "select (select count(*) from orders), (select count(*) from order_items)"
    assert _published(data_dir, "jaffle_shop", query) == [(3, 4)]
    assert _days(data_dir, "jaffle_shop.orders") == [date(2020, 3, 1), date(2020, 3, 2)]
    dbt_jaffle_shop(date(2020, 3, 3), date(2020, 3, 3), docs=False)
    assert _published(data_dir, "jaffle_shop", query) == [(4, 5)]
    assert _days(data_dir, "jaffle_shop.order_items") == [date(2020, 3, d) for d in (1, 2, 3)]


def _days(data_dir, dataset: str) -> list[date]:
    """The days the published warehouse lists for a mart (what a backfill's `missing` mode reads)."""
    return sorted(coverage.days(Storage(data_dir), coverage.Place.of(runner.DECLARATIONS.produced(dataset))))


def test_a_publish_lists_the_days_of_each_day_partitioned_mart_and_a_failed_build_changes_nothing(
    data_dir, land_raw
):
    assert _days(data_dir, "jaffle_shop.orders") == []  # nothing published yet
    dbt_jaffle_shop(date(2020, 3, 1), date(2020, 3, 2), docs=False)
    listed = {d: _days(data_dir, d) for d in ("jaffle_shop.orders", "jaffle_shop.daily_store_revenue")}
    in_warehouse = _published(data_dir, "jaffle_shop", "select distinct order_date from orders order by 1")
    assert listed == {dataset: [day for (day,) in in_warehouse] for dataset in listed}
    _land_day(data_dir, land_raw, "2020-03-03", orders=None)
    with pytest.raises(DbtBuildFailed):
        dbt_jaffle_shop(date(2020, 3, 3), date(2020, 3, 3), docs=False)
    assert _days(data_dir, "jaffle_shop.orders") == [date(2020, 3, 1), date(2020, 3, 2)]
    dbt_attribution(date(2020, 3, 1), date(2020, 3, 2), docs=False)
    assert _days(data_dir, "attribution.channel_performance") == [
        day
        for (day,) in _published(
            data_dir, "attribution", "select distinct activity_date from channel_performance order by 1"
        )
    ]


def test_end_before_start_is_rejected():
    with pytest.raises(ValueError, match="end_date 2020-03-01 is before start_date 2020-03-02"):
        dbt_jaffle_shop(date(2020, 3, 2), date(2020, 3, 1))


BUILD = """
import sys
from datetime import date
from jaffle_data import coverage
from jaffle_data.storage import Storage
from jaffle_dbt_transform import runner
runner.run("jaffle_shop", date(2020, 3, 1), date(2020, 3, 2), docs=False,
           warn=lambda message: print("waited:", message, flush=True))
print("built", flush=True)
"""


def test_concurrent_builds_and_readers_never_hit_a_duckdb_lock(data_dir):
    runner.run("jaffle_shop", date(2020, 3, 1), date(2020, 3, 2), docs=False)
    warehouse = DbtSettings().published("jaffle_shop")
    builds = [
        subprocess.Popen([sys.executable, "-c", BUILD], stdout=subprocess.PIPE, text=True) for _ in range(2)
    ]
    reads = 0
    while any(b.poll() is None for b in builds):
        with duckdb.connect(str(warehouse), read_only=True) as con:
            assert con.sql("select count(*) from orders").fetchone()[0] == 3
        reads += 1
        time.sleep(0.05)
    outputs = [b.communicate()[0] for b in builds]
    assert [b.returncode for b in builds] == [0, 0], outputs
    assert all("built" in out for out in outputs)
    assert any("waited: another jaffle_shop build holds" in out for out in outputs), outputs
    assert reads > 0


@pytest.mark.postgres
def test_the_postgres_target_builds_the_same_marts_and_increments_by_range(data_dir, postgres):
    # a days list a DuckDB build once left describes no PostgreSQL warehouse: the build removes it
    stale = data_dir / runner.days_file("jaffle_shop")
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_text('{"main.orders": ["2020-03-01", "2020-03-02"]}')
    dbt_jaffle_shop(date(2020, 3, 1), date(2020, 3, 2), docs=False)
    assert not stale.exists()
    result = dbt_attribution(date(2020, 3, 1), date(2020, 3, 2), docs=False)
    assert all(n["status"] in {"success", "pass"} for n in result["nodes"])
    assert not (data_dir / "warehouse" / "jaffle_shop.duckdb").exists()  # nothing went to DuckDB

    revenue = (
        "select order_date, location_id, count_orders, revenue::float "
        "from jaffle_shop.daily_store_revenue order by 1, 2"
    )
    assert postgres(revenue) == [
        (date(2020, 3, 1), "store-001", 1, 17.0),
        (date(2020, 3, 1), "store-002", 1, 11.0),
        (date(2020, 3, 2), "store-001", 1, 6.0),
    ]
    performance = postgres(
        "select activity_date, channel, spend::float, linear_revenue::float, roas_linear::float "
        "from attribution.channel_performance order by 1, 2"
    )
    assert performance == [
        (date(2020, 2, 29), "paid_search", 0.0, 0.0, None),
        (date(2020, 3, 1), "email", 0.0, 8.5, None),
        (date(2020, 3, 1), "paid_search", 25.0, 8.5, 0.34),
        (date(2020, 3, 2), "email", 0.0, 2.0, None),
        (date(2020, 3, 2), "paid_search", 0.0, 4.0, None),
    ]

    _rewrite_orders(data_dir, "2020-03-01", 9900)
    _rewrite_orders(data_dir, "2020-03-02", 9900)
    dbt_jaffle_shop(date(2020, 3, 2), date(2020, 3, 2), docs=False)
    daily = (
        "select order_date, sum(revenue)::float from jaffle_shop.daily_store_revenue group by 1 order by 1"
    )
    assert postgres(daily) == [(date(2020, 3, 1), 28.0), (date(2020, 3, 2), 99.0)]


def test_a_slot_request_the_api_misses_is_asked_again_and_a_lost_release_keeps_the_build(monkeypatch):
    """The server restarting while a build asks for its slot costs a wait, and while it gives the slot
    back, nothing: neither costs the run. A missing limit is no restart."""
    from contextlib import contextmanager

    import httpx
    from jaffle_dbt_transform import flows
    from prefect import flow
    from prefect.concurrency.asyncio import ConcurrencySlotAcquisitionError

    answers: list = [httpx.ConnectError("refused"), httpx.ConnectError("refused"), None]
    waits: list[float] = []

    @contextmanager
    def restarting_api(*args, **kwargs):
        answer = answers.pop(0)
        if answer is not None:
            raise ConcurrencySlotAcquisitionError("Unable to acquire concurrency slots") from answer
        yield

    @contextmanager
    def no_such_limit(*args, **kwargs):
        raise ConcurrencySlotAcquisitionError("Concurrency limits ['jaffle-warehouse'] must be created")
        yield

    @flow
    def build_under_lock() -> str:
        return flows._under_warehouse_lock(DbtSettings(), lambda: "built", wait=waits.append)

    monkeypatch.setattr(flows, "concurrency", restarting_api)
    assert build_under_lock() == "built"
    assert waits == [5, 5] and answers == []

    monkeypatch.setattr(flows, "concurrency", no_such_limit)
    with pytest.raises(ConcurrencySlotAcquisitionError, match="must be created"):
        build_under_lock()
    assert waits == [5, 5]  # a missing limit is not asked again

    # The server gone as the build ends: the slot's release (a new client's first request) is refused.
    # The build stands; the slot frees itself when its lease runs out. A build that failed still fails.
    @contextmanager
    def gone_at_release(*args, **kwargs):
        yield
        raise httpx.ConnectError("All connection attempts failed")

    monkeypatch.setattr(flows, "concurrency", gone_at_release)
    assert build_under_lock() == "built"

    @flow
    def failing_build_under_lock() -> str:
        def build() -> str:
            raise httpx.ConnectError("the build's own request")

        return flows._under_warehouse_lock(DbtSettings(), build, wait=waits.append)

    with pytest.raises(httpx.ConnectError, match="the build's own request"):
        failing_build_under_lock()


@pytest.mark.postgres
def test_the_dbt_role_is_no_superuser_and_cannot_create_roles(postgres):
    import psycopg2

    [(superuser, createrole)] = postgres(
        "select rolsuper, rolcreaterole from pg_roles where rolname = current_user"
    )
    assert not superuser and not createrole
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        postgres("create role jaffle_intruder")


def test_the_postgres_password_comes_from_the_platforms_secret_block_not_the_environment(monkeypatch):
    from jaffle_contract.datasets import WAREHOUSE_PASSWORD_BLOCK
    from jaffle_dbt_transform.flows import with_pg_password
    from jaffle_dbt_transform.settings import DbtSettings
    from prefect.blocks.system import Secret

    monkeypatch.delenv("JAFFLE_PG_PASSWORD", raising=False)
    monkeypatch.setenv("JAFFLE_DBT_TARGET", "postgres")
    with pytest.raises(ValueError, match=f"save it as the Prefect Secret block '{WAREHOUSE_PASSWORD_BLOCK}'"):
        with_pg_password(DbtSettings())
    Secret(value="from-the-block").save(WAREHOUSE_PASSWORD_BLOCK, overwrite=True)
    try:
        assert with_pg_password(DbtSettings()).pg_password.get_secret_value() == "from-the-block"
        # a person running dbt by hand with the variable set keeps theirs; DuckDB needs none
        monkeypatch.setenv("JAFFLE_PG_PASSWORD", "by-hand")
        assert with_pg_password(DbtSettings()).pg_password.get_secret_value() == "by-hand"
        monkeypatch.setenv("JAFFLE_DBT_TARGET", "local")
        monkeypatch.delenv("JAFFLE_PG_PASSWORD")
        assert with_pg_password(DbtSettings()).pg_password.get_secret_value() == ""
    finally:
        Secret.delete(WAREHOUSE_PASSWORD_BLOCK)
