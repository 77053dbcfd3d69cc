"""A backfill's `missing` mode reads the data: each cell's proofs against its window, in a data folder
laid out as the teams write it, placed by the teams' own declarations."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from jaffle_contract import contracts
from jaffle_coordinator import missing, plan
from jaffle_coordinator.grid import Grid, Mode, State
from jaffle_data import coverage
from jaffle_data.storage import Storage

ROOT = Path(__file__).resolve().parents[2]
PLACES = coverage.places(coverage.catalog(d) for d in contracts.load_all(ROOT))
RANGE = plan.Window(date(2024, 5, 1), date(2024, 5, 4))
FIRST, SECOND = plan.chunks(RANGE, 2)


def write(root: Path, dataset: str, days: list[date]) -> None:
    """`dataset` as its producer leaves it, holding `days`."""
    place = PLACES[dataset]
    if place.format == "parquet":
        key = place.partition_by if dataset.startswith("ml.") else "date"
        for day in days:
            folder = root / place.location / f"{key}={day}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / coverage.PARTITION_FILE).write_bytes(b"PAR1")
    elif place.format == "duckdb":
        listing = root / coverage.days_file(place.location)
        listing.parent.mkdir(parents=True, exist_ok=True)
        document = json.loads(listing.read_text()) if listing.exists() else {}
        document[place.location.split("#", 1)[1]] = [d.isoformat() for d in days]
        listing.write_text(json.dumps(document))
    else:
        (root / place.location).parent.mkdir(parents=True, exist_ok=True)
        (root / place.location).write_text("<html>")


@pytest.fixture
def done(tmp_path) -> Path:
    """A data folder holding the whole range, as one platform run of it leaves it."""
    for child in plan.CHILDREN:
        for proof in child.proves:
            held = {"each": RANGE.days, "last": [FIRST.end, SECOND.end]}.get(proof.days, [])
            write(tmp_path, proof.dataset, held)
    return tmp_path


def planned(root: Path) -> Grid:
    g = Grid(plan.CHILDREN, [FIRST, SECOND])
    g.plan(Mode.MISSING, missing=missing.checker(PLACES, Storage(root)))
    return g


def test_every_proof_is_a_dataset_its_child_writes_and_every_child_of_the_platform_has_one():
    writes = {entry["name"]: set(entry["writes"]) for entry in plan.GRAPH["children"]}
    assert set(plan.PROOFS) <= set(writes), "a proof names no child of the plan"
    for child in plan.CHILDREN:
        for proof in child.proves:
            assert proof.dataset in writes[child.name], (child.name, proof)
            assert proof.dataset in PLACES, proof
            assert PLACES[proof.dataset].by_day == (proof.days != "any"), proof
    assert {c.name for c in plan.CHILDREN if c.proves} == set(plan.PROOFS)


def test_a_child_no_dataset_proves_always_runs_in_a_missing_backfill(done):
    import dataclasses

    unproven = [dataclasses.replace(c, proves=()) if c.name == "dashboards" else c for c in plan.CHILDREN]
    g = Grid(unproven, [FIRST, SECOND])
    g.plan(Mode.MISSING, missing=missing.checker(PLACES, Storage(done)))
    assert {cell.name for cell in g.to_run()} == {f"dashboards {FIRST}", f"dashboards {SECOND}"}
    assert g.cells[("dashboards", 0)].reason == "no dataset proves its window: it runs"


def test_a_range_the_data_holds_whole_runs_nothing(done):
    g = planned(done)
    assert g.to_run() == []
    assert {cell.reason for cell in g.cells.values()} == {"complete in the data"}


def test_a_missing_partition_reruns_its_cell_and_everything_after_it_and_nothing_else(done):
    (done / PLACES["raw.jaffle_shop.order_items"].location / f"date={SECOND.end}" / "part-0.parquet").unlink()
    g = planned(done)
    assert {cell.name for cell in g.to_run()} == {f"{name} {SECOND}" for name in plan.CHILD_NAMES} - {
        f"raw-data-marketing {SECOND}"
    }
    cell = g.cells[("raw-data-jaffle-shop", 1)]
    assert cell.reason == f"missing in the data: raw.jaffle_shop.order_items lacks {SECOND.end}"
    assert g.cells[("dbt-jaffle-shop", 1)].reason == f"its input raw-data-jaffle-shop {SECOND} runs"


def test_a_warehouse_behind_its_lake_reruns_from_the_warehouse_on(tmp_path):
    for dataset in ("raw.jaffle_shop.orders", "raw.jaffle_shop.order_items"):
        write(tmp_path, dataset, RANGE.days)
    for dataset in ("raw.marketing.ad_spend", "raw.marketing.web_sessions"):
        write(tmp_path, dataset, RANGE.days)
    write(tmp_path, "jaffle_shop.orders", FIRST.days)
    write(tmp_path, "attribution.channel_performance", FIRST.days)
    write(tmp_path, "ml.revenue_forecast", [FIRST.end])
    write(tmp_path, "ml.forecast_metrics", [FIRST.end])
    g = planned(tmp_path)
    states = {cell.name: cell.state for cell in g.cells.values()}
    assert states[f"raw-data-jaffle-shop {SECOND}"] == State.SKIPPED
    assert g.cells[("dbt-jaffle-shop", 1)].reason == (
        f"missing in the data: jaffle_shop.orders lacks {SECOND.start}, {SECOND.end}"
    )
    # the dashboard was never written: its first chunk runs for that, though its inputs are complete
    assert g.cells[("dashboards", 0)].reason == "missing in the data: dashboards.dashboard not written"
    assert states[f"sales-forecast {FIRST}"] == State.SKIPPED


def test_a_day_without_input_is_no_gap_downstream(done):
    # A day the lake has no orders for (a closed shop, real data): the warehouse cannot hold it either.
    day = SECOND.end
    for dataset in ("raw.jaffle_shop.orders", "raw.jaffle_shop.order_items"):
        (done / PLACES[dataset].location / f"date={day}" / "part-0.parquet").unlink()
    listing = done / coverage.days_file(PLACES["jaffle_shop.orders"].location)
    listing.write_text(listing.read_text().replace(f'"{day}"', f'"{day - timedelta(days=30)}"'))
    check = missing.checker(PLACES, Storage(done))
    cell = Grid(plan.CHILDREN, [FIRST, SECOND]).cells[("dbt-jaffle-shop", 1)]
    assert check(cell) is None


def test_a_proof_no_catalog_places_names_the_dataset_and_the_fix(done):
    check = missing.checker({}, Storage(done))
    cell = Grid(plan.CHILDREN, [FIRST]).cells[("raw-data-jaffle-shop", 0)]
    with pytest.raises(missing.NoCatalog, match=r"raw.jaffle_shop.orders.*\./dev deploy"):
        check(cell)
