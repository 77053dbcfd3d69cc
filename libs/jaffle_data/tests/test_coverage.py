"""Which days a dataset holds, read from the data: partitions, a warehouse's days list, a page."""

from __future__ import annotations

from datetime import date

from jaffle_contract import contracts
from jaffle_data import coverage
from jaffle_data.storage import Storage

DECLARATIONS = contracts.parse(
    "shop",
    """
[[produces]]
name = "raw.shop.orders"
location = "lake/raw/shop/orders"
format = "parquet"
partition_by = "ordered_at"
freshness_hours = 36
columns = [{ name = "ordered_at", type = "timestamp" }]

[[produces]]
name = "shop.daily"
location = "warehouse/shop.duckdb#main.daily"
format = "duckdb"
partition_by = "day"
upstream = ["raw.shop.orders"]
freshness_hours = 36
columns = [{ name = "day", type = "date" }]

[[produces]]
name = "shop.page"
location = "pages/page.html"
format = "html"
upstream = ["shop.daily"]
freshness_hours = 36
""",
)
PLACES = coverage.places([coverage.catalog(DECLARATIONS)])


def test_a_partitioned_dataset_holds_the_days_whose_partition_file_is_there(tmp_path):
    orders = tmp_path / "lake/raw/shop/orders"
    assert coverage.days(Storage(tmp_path), PLACES["raw.shop.orders"]) == set()  # never written
    for day in ("2024-05-01", "2024-05-03"):
        (orders / f"date={day}").mkdir(parents=True)
        (orders / f"date={day}/part-0.parquet").write_bytes(b"PAR1")
    (orders / "date=2024-05-02").mkdir()  # a partition folder left without its file
    (orders / "date=2024-05-04").write_text("a file where the folder belongs")
    (orders / "_schema.json").write_text("{}")
    (orders / ".date=2024-05-05-0a1b.tmp").mkdir()  # a writer's scratch
    assert coverage.days(Storage(tmp_path), PLACES["raw.shop.orders"]) == {date(2024, 5, 1), date(2024, 5, 3)}
    # any key: the ML team partitions by as_of=
    (orders / "as_of=2024-05-06").mkdir()
    (orders / "as_of=2024-05-06/part-0.parquet").write_bytes(b"PAR1")
    assert date(2024, 5, 6) in coverage.days(Storage(f"file://{tmp_path}"), PLACES["raw.shop.orders"])


def test_a_warehouse_table_holds_the_days_its_publish_listed(tmp_path):
    daily = PLACES["shop.daily"]
    assert coverage.days(Storage(tmp_path), daily) == set()
    listing = tmp_path / coverage.days_file(daily.location)
    assert listing == tmp_path / "warehouse/shop.duckdb.days.json"
    listing.parent.mkdir(parents=True)
    listing.write_bytes(coverage.days_document({"main.daily": [date(2024, 5, 2), date(2024, 5, 1)]}))
    assert coverage.days(Storage(tmp_path), daily) == {date(2024, 5, 1), date(2024, 5, 2)}
    assert not coverage.exists(Storage(tmp_path), PLACES["shop.page"])
    (tmp_path / "pages").mkdir()
    (tmp_path / "pages/page.html").write_text("<html>")
    assert coverage.exists(Storage(tmp_path), PLACES["shop.page"])


def test_the_catalog_is_small_json_and_reads_back_as_it_was_declared():
    import json

    value = coverage.catalog(DECLARATIONS)
    assert len(json.dumps(value)) < 5000  # a Prefect Variable's limit
    assert PLACES["shop.daily"] == coverage.Place(
        "shop.daily", "warehouse/shop.duckdb#main.daily", "duckdb", "day", ("raw.shop.orders",)
    )
    assert PLACES["shop.daily"].by_day and not PLACES["shop.page"].by_day


def test_every_teams_catalog_fits_in_a_prefect_variable():
    import json
    from pathlib import Path

    from prefect.types import MAX_VARIABLE_VALUE_LENGTH

    root = Path(__file__).resolve().parents[3]
    declared = [d for d in contracts.load_all(root) if d.produces]
    sizes = {d.team: len(json.dumps(coverage.catalog(d))) for d in declared}
    assert len(sizes) >= 4  # every team that writes a dataset has a catalog
    assert max(sizes.values()) <= MAX_VARIABLE_VALUE_LENGTH, sizes
