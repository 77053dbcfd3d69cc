from __future__ import annotations

import pytest
from jaffle_contract import contracts

LAKE = """
[[produces]]
name = "raw.shop.orders"
location = "lake/raw/shop/orders"
format = "parquet"
key = ["order_id"]
partition_by = "ordered_at"
freshness_hours = 36
columns = [
  { name = "order_id", type = "string", nullable = false },
  { name = "ordered_at", type = "timestamp", nullable = false },
  { name = "subtotal", type = "int64", min = 0 },
]
"""
MARTS = """
[[produces]]
name = "shop.daily"
location = "warehouse/shop.duckdb#main.daily"
format = "duckdb"
upstream = ["raw.shop.orders"]
freshness_hours = 36
columns = [{ name = "day", type = "date" }, { name = "revenue", type = "float64" }]

[[consumes]]
name = "raw.shop.orders"
columns = { order_id = "string", ordered_at = "timestamp", subtotal = "float64" }
"""
PAGES = """
[[produces]]
name = "pages.page"
location = "pages/page.html"
format = "html"
upstream = ["shop.daily"]
freshness_hours = 36

[[consumes]]
name = "shop.daily"
columns = { day = "date", revenue = "float64" }
"""


def _platform(lake: str = LAKE) -> list[contracts.Declarations]:
    return [
        contracts.parse("lake", lake),
        contracts.parse("marts", MARTS),
        contracts.parse("pages", PAGES),
    ]


def test_a_platform_whose_readers_find_their_columns_has_no_problem():
    assert contracts.check(_platform()) == []
    # marts reads subtotal as float64: an int64 column widens to it
    assert contracts.compatible("int64", "float64") and not contracts.compatible("float64", "int64")


def test_a_dropped_column_names_the_reader_the_dataset_and_the_column():
    dropped = LAKE.replace('  { name = "subtotal", type = "int64", min = 0 },\n', "")
    [problem] = contracts.check(_platform(dropped))
    assert (problem.consumer, problem.dataset, problem.column, problem.producer) == (
        "marts",
        "raw.shop.orders",
        "subtotal",
        "lake",
    )
    assert str(problem) == (
        "marts reads raw.shop.orders.subtotal (produced by lake): "
        "the column is not in its producer's declaration"
    )


def test_a_retyped_column_breaks_and_an_added_one_does_not():
    retyped = LAKE.replace('name = "ordered_at", type = "timestamp"', 'name = "ordered_at", type = "string"')
    assert [str(p) for p in contracts.check(_platform(retyped))] == [
        "marts reads raw.shop.orders.ordered_at (produced by lake): declared string, read as timestamp"
    ]
    head, _, tail = LAKE.rpartition("]\n")
    added = head + '  { name = "coupon", type = "string" },\n]\n' + tail
    assert contracts.check(_platform(added)) == []


def test_a_dataset_nobody_produces_is_named():
    gone = contracts.check([contracts.parse("marts", MARTS), contracts.parse("pages", PAGES)])
    assert [str(p) for p in gone] == ["marts reads raw.shop.orders: no team produces it"]


def test_a_dataset_has_one_producer():
    with pytest.raises(contracts.ContractError, match=r"raw\.shop\.orders is declared by both lake and copy"):
        contracts.producers([contracts.parse("lake", LAKE), contracts.parse("copy", LAKE)])


def test_a_bad_declaration_is_refused_naming_its_file_and_what_is_wrong():
    unknown_key = r"team lake\): produces.0: raw\.shop\.orders: key or partition column\(s\) id are not"
    with pytest.raises(contracts.ContractError, match=unknown_key):
        contracts.parse("lake", LAKE.replace('key = ["order_id"]', 'key = ["id"]'))
    unknown_type = r"datasets\.toml \(team lake\): produces\.0\.columns\.2\.type: Input should be 'string'"
    with pytest.raises(contracts.ContractError, match=unknown_type):
        contracts.parse("lake", LAKE.replace('type = "int64"', 'type = "money"'))
    unread = MARTS.replace('upstream = ["raw.shop.orders"]', 'upstream = ["raw.shop.items"]')
    with pytest.raises(contracts.ContractError, match=r"upstream raw\.shop\.items is neither consumed nor"):
        contracts.parse("marts", unread)
    with pytest.raises(contracts.ContractError, match="Expected"):
        contracts.parse("lake", "[[produces]\nname = ")


def test_downstream_follows_readers_of_readers():
    platform = _platform()
    assert contracts.downstream(platform, ["lake"]) == {"marts", "pages"}
    assert contracts.downstream(platform, ["marts"]) == {"pages"}
    assert contracts.downstream(platform, ["pages"]) == set()
    assert contracts.consumers_of(platform, "shop.daily") == ["pages"]


def test_a_fixture_takes_its_producers_columns_in_order_with_their_types():
    orders = contracts.parse("lake", LAKE).produced("raw.shop.orders")
    assert contracts.select_as_declared(orders, "rows", ["ordered_at", "order_id", "extra"]) == (
        "select cast(order_id as text) as order_id, cast(ordered_at as timestamp) as ordered_at, "
        "cast(null as bigint) as subtotal from rows as declared_rows"
    )
    with pytest.raises(contracts.ContractError, match=r"rows lacks raw\.shop\.orders's not-null column"):
        contracts.select_as_declared(orders, "rows", ["order_id"])


def test_every_team_package_of_the_workspace_is_found_and_read(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.hatch.envs.lake]\nenv-vars = { PLATFORM_PACKAGE = "packages/lake" }\n'
        '[tool.hatch.envs.lint]\ndependencies = ["ruff"]\n'
    )
    package = tmp_path / "packages" / "lake" / "src" / "lake_flows"
    package.mkdir(parents=True)
    (package / "datasets.toml").write_text(LAKE)
    assert contracts.workspace(tmp_path) == {"lake": tmp_path / "packages" / "lake"}
    [declared] = contracts.load_all(tmp_path)
    assert declared.team == "lake" and [d.name for d in declared.produces] == ["raw.shop.orders"]
