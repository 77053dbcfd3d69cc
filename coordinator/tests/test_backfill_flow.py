"""The backfill flow on a Prefect server: a dry run lists the cells, a run with no team deployed fails
the ingestion cells by name, blocks everything after them, and leaves its grid for the next run."""

from __future__ import annotations

import asyncio
import json
from datetime import date
from pathlib import Path

import pytest
from jaffle_coordinator import backfill, plan
from jaffle_coordinator.flows import data_platform_backfill
from prefect.client.orchestration import get_client
from prefect.testing.utilities import prefect_test_harness

ROOT = Path(__file__).resolve().parents[2]
RANGE = {"start_date": date(2024, 5, 1), "end_date": date(2024, 5, 14)}  # two weeks


@pytest.fixture(scope="module", autouse=True)
def prefect_api():
    with prefect_test_harness(server_startup_timeout=120):
        yield


async def _artifact(key: str):
    async with get_client() as client:
        found = await client.read_artifacts()
    return next((a for a in sorted(found, key=lambda a: a.created, reverse=True) if a.key == key), None)


def test_a_dry_run_lists_every_cell_and_starts_nothing():
    result = asyncio.run(data_platform_backfill(**RANGE, chunk_days=7, dry_run=True))
    assert len(result["would_run"]) == 2 * len(plan.CHILD_NAMES)
    assert "dbt-jaffle-shop 2024-05-08..2024-05-14" in result["would_run"]
    # Each team's own cell size: two weeks fit in one cell of each (the forecast and dashboards: once),
    # and a team's size given for this backfill cuts only that team's cells.
    own = asyncio.run(data_platform_backfill(**RANGE, dry_run=True))
    assert own["would_run"] == [f"{name} 2024-05-01..2024-05-14" for name in plan.CHILD_NAMES]
    weekly = asyncio.run(data_platform_backfill(**RANGE, cells={"ingestion": 7}, dry_run=True))
    landings = [name for name in weekly["would_run"] if name.startswith("raw-data-jaffle-shop ")]
    assert landings == [
        "raw-data-jaffle-shop 2024-05-01..2024-05-07",
        "raw-data-jaffle-shop 2024-05-08..2024-05-14",
    ]
    assert "dbt-jaffle-shop 2024-05-01..2024-05-14" in weekly["would_run"]

    async def runs():
        async with get_client() as client:
            return await client.read_flow_runs()

    assert len(asyncio.run(runs())) == 3  # the three backfills themselves


def test_cells_that_cannot_run_fail_by_name_block_what_needs_them_and_leave_the_grid():
    with pytest.raises(
        plan.ChildRunFailed, match=r"raw-data-jaffle-shop 2024-05-01\.\.2024-05-07.*NotDeployed"
    ):
        asyncio.run(data_platform_backfill(**RANGE, chunk_days=7, attempts=1, backoff_seconds=0.1))
    window = plan.Window(RANGE["start_date"], RANGE["end_date"])
    table = asyncio.run(_artifact(backfill.artifact_key(window)))
    rows = json.loads(table.data) if isinstance(table.data, str) else table.data
    states = {row["child"]: row["2024-05-01..2024-05-07"].split()[1] for row in rows}
    assert states["raw-data-jaffle-shop"] == "failed" and states["dbt-jaffle-shop"] == "blocked"
    # the next backfill of the range, reprocess failed: every cell, as none completed
    again = asyncio.run(data_platform_backfill(**RANGE, chunk_days=7, reprocess="failed", dry_run=True))
    assert len(again["would_run"]) == 2 * len(plan.CHILD_NAMES)


async def _save_catalogs() -> None:
    """Every team's catalog Variable, as each team's `./dev deploy` saves it."""
    from jaffle_contract import contracts
    from jaffle_data import coverage
    from prefect.client.schemas.actions import VariableCreate

    async with get_client() as client:
        for declarations in contracts.load_all(ROOT):
            name = f"{coverage.CATALOG_PREFIX}{declarations.team}"
            if declarations.produces and await client.read_variable_by_name(name) is None:
                await client.create_variable(VariableCreate(name=name, value=coverage.catalog(declarations)))


def test_missing_reads_the_data_through_the_catalogs_the_deploys_saved(tmp_path, monkeypatch):
    from jaffle_coordinator import missing

    monkeypatch.setenv("JAFFLE_DATA_DIR", str(tmp_path))
    with pytest.raises(missing.NoCatalog, match=r"raw\.jaffle_shop\.orders.*\./dev deploy"):
        asyncio.run(data_platform_backfill(**RANGE, reprocess="missing", dry_run=True))

    asyncio.run(_save_catalogs())
    # The lake holds the first chunk's orders only: exactly the first chunk's marketing and all of the
    # second chunk's ingestion are missing, with everything after them.
    for day in plan.Window(RANGE["start_date"], date(2024, 5, 7)).days:
        for table in ("orders", "order_items"):
            folder = tmp_path / f"lake/raw/jaffle_shop/{table}/date={day}"
            folder.mkdir(parents=True)
            (folder / "part-0.parquet").write_bytes(b"PAR1")
    result = asyncio.run(data_platform_backfill(**RANGE, chunk_days=7, reprocess="missing", dry_run=True))
    assert "raw-data-jaffle-shop 2024-05-01..2024-05-07" not in result["would_run"]
    assert len(result["would_run"]) == 2 * len(plan.CHILD_NAMES) - 1
    plan_table = asyncio.run(_artifact("backfill-plan-2024-05-01-2024-05-14"))
    rows = json.loads(plan_table.data) if isinstance(plan_table.data, str) else plan_table.data
    why = {row["child"]: row["2024-05-08..2024-05-14"] for row in rows}
    assert why["raw-data-jaffle-shop"] == (
        "· waiting: missing in the data: raw.jaffle_shop.orders lacks 7 days from 2024-05-08 to 2024-05-14; "
        "raw.jaffle_shop.order_items lacks 7 days from 2024-05-08 to 2024-05-14"
    )
    first = {row["child"]: row["2024-05-01..2024-05-07"] for row in rows}
    assert first["raw-data-jaffle-shop"] == "– skipped: complete in the data"


def test_the_catalogs_are_found_among_any_number_of_other_variables():
    from jaffle_contract import contracts
    from jaffle_coordinator import missing
    from prefect.client.schemas.actions import VariableCreate

    async def crowd():
        await _save_catalogs()
        async with get_client() as client:
            for n in range(250):  # more than a page, all sorting before the catalogs
                await client.create_variable(VariableCreate(name=f"another-team-{n:03}", value=n))
        return await missing.read_places()

    places = asyncio.run(crowd())
    produced = {d.name for declarations in contracts.load_all(ROOT) for d in declarations.produces}
    assert set(places) == produced  # saved by the test above, every team's
