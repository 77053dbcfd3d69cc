"""A backfill cell that keeps failing blocks only what needs it; reprocessing `failed`, then `missing`,
reruns exactly the rest."""

from __future__ import annotations

import itertools
from datetime import date

import pytest
from jaffle_ops.secrets import read_auth_string

from .grids import grid_artifact, grid_states, grid_table, printed_grid
from .harness import Platform, rows_against_lake

pytestmark = [pytest.mark.integration, pytest.mark.faults]


def drawn_grid(platform: Platform, page, artifact_id) -> dict[str, list[str]]:
    """`{child: [state of each chunk]}` as the Prefect UI draws a grid artifact's table (a row per child:
    its name, its team, then a cell per chunk)."""
    page.goto(f"{platform.ui}/artifacts/artifact/{artifact_id}")
    rows = page.locator(".artifact-data-table tbody tr")
    rows.first.wait_for()
    drawn = {}
    for row in rows.all():
        cells = [cell.inner_text().split() for cell in row.locator("td").all()]
        drawn[cells[0][0]] = [cell[1].rstrip(":") for cell in cells[2:]]
    return drawn


def test_a_cell_that_keeps_failing_blocks_only_what_needs_it_and_reprocess_failed_runs_exactly_the_rest(
    platform, record, chromium_page, ui_login, artifacts
):
    start, end = date(2024, 8, 1), date(2024, 8, 2)
    window = f"{start}..{end}"
    base = ("backfill", "--start", start.isoformat(), "--end", end.isoformat(), "--chunk-days", "1")
    # Fault from outside: a file where the first day's orders partition belongs.
    partition = platform.data / "lake/raw/jaffle_shop/orders" / f"date={start}"
    partition.parent.mkdir(parents=True, exist_ok=True)
    partition.write_text("in the way")
    first = platform.cli(*base, "--attempts", "1", "--cap", "ingestion=1")
    assert first.returncode == 1, first.stdout
    assert f"raw-data-jaffle-shop {start}" in first.stdout and "8 cells blocked" in first.stdout
    parent = platform.runs_named(f"backfill {window}")[0]
    table = grid_table(platform, parent.id)
    states = grid_states(table)
    # The terminal's last grid, the grid artifact and the API agree cell by cell, and each cell that ran
    # links to its run.
    chunks = [c for c in table[0] if c not in ("child", "team")]
    assert printed_grid(first.stdout, len(table)) == {
        row["child"]: [states[f"{row['child']} {chunk}"] for chunk in chunks] for row in table
    }
    ran = platform.children(parent.id)
    for row in table:
        for chunk in chunks:
            cell = f"{row['child']} {chunk}"
            if cell in ran:
                assert states[cell] == ran[cell][-1].state.type.value.lower(), cell
                assert f"/runs/flow-run/{ran[cell][-1].id}" in row[chunk], row[chunk]
            else:
                assert states[cell] == "blocked", cell
    # The UI draws the same grid from the artifact (docs/backfills.md shows it); a cell's link opens its run.
    page = chromium_page
    ui_login(page, platform.ui, read_auth_string(platform.home))
    artifact = grid_artifact(platform, parent.id)
    assert (
        artifact.description == f"Backfill of {window}: 12/12 cells ended (blocked 8, completed 3, failed 1)"
    )
    assert drawn_grid(platform, page, artifact.id) == printed_grid(first.stdout, len(table))
    end_of_table = page.get_by_role("button", name="Show raw data").bounding_box()
    height = end_of_table["y"] + end_of_table["height"] + 24
    page.screenshot(
        path=str(artifacts / "backfill-grid.png"), clip={"x": 0, "y": 0, "width": 1400, "height": height}
    )
    failed = ran[f"raw-data-jaffle-shop {start}"][-1]
    link = page.locator(".artifact-data-table tbody tr", has_text="raw-data-jaffle-shop").locator("a").first
    assert link.get_attribute("href") == f"{platform.ui}/runs/flow-run/{failed.id}"
    page.goto(link.get_attribute("href"))  # follow the cell's link
    page.get_by_text(failed.name).first.wait_for()
    page.locator(".state-badge", has_text="Failed").first.wait_for()
    # --cap ingestion=1: the four ingestion cells ran one at a time.
    ingested = sorted(
        (r for name, runs in ran.items() if name.startswith("raw-data-") for r in runs),
        key=lambda r: r.start_time,
    )
    assert len(ingested) == 4
    assert all(a.end_time <= b.start_time for a, b in itertools.pairwise(ingested)), ingested
    done = {name for name, state in states.items() if state == "completed"}
    missing = {name for name, state in states.items() if state != "completed"}
    assert done == {f"raw-data-jaffle-shop {end}", f"raw-data-marketing {start}", f"raw-data-marketing {end}"}
    assert states[f"raw-data-jaffle-shop {start}"] == "failed"
    # dbt builds in order: the second day's build waits for the first day's, so it is blocked too.
    assert {name for name, state in states.items() if state == "blocked"} == missing - {
        f"raw-data-jaffle-shop {start}"
    }
    assert set(platform.children(parent.id)) == done | {f"raw-data-jaffle-shop {start}"}
    # Retrying that backfill run (the UI's Retry; here the CLI's) redoes none of its completed cells: with
    # the fault still there, only the failed cell runs again (and fails again).
    resumed = platform.cli("run", "--resume", str(parent.id))
    assert resumed.returncode == 1, resumed.stdout
    attempts = {name: len(runs) for name, runs in platform.children(parent.id).items()}
    assert attempts == {**dict.fromkeys(done, 1), f"raw-data-jaffle-shop {start}": 2}, attempts

    dry = platform.cli(*base, "--reprocess", "failed", "--dry-run")
    assert dry.returncode == 0, dry.stdout
    planned = platform.runs_named(f"backfill {window} (dry run)")[0]
    plan = grid_states(grid_table(platform, planned.id, "backfill-plan-"))
    assert {name for name, state in plan.items() if state == "waiting"} == missing
    assert {name for name, state in plan.items() if state == "skipped"} == done
    assert not platform.children(planned.id)  # a dry run runs nothing
    # The data says the same: `missing` reads each cell's outputs (the lake, the warehouse's days).
    assert dry_run_plan(platform, base, "missing") == (missing, done)
    assert f"raw-data-jaffle-shop {start}: missing in the data: raw.jaffle_shop.orders lacks {start}" in (
        platform.cli(*base, "--reprocess", "missing", "--dry-run").stdout
    )

    partition.unlink()
    again = platform.cli(*base, "--reprocess", "failed")
    assert again.returncode == 0, again.stdout
    rerun = next(r for r in platform.runs_named(f"backfill {window}") if r.id != parent.id)
    assert set(platform.children(rerun.id)) == missing  # exactly the cells that did not complete
    assert set(grid_states(grid_table(platform, rerun.id)).values()) == {"completed", "skipped"}
    counts = platform.counts(start, end)
    assert counts["warehouse"] == counts["lake"] > 0 and counts["duplicates"] == 0
    assert dry_run_plan(platform, base, "missing") == (set(), done | missing)  # the data is whole

    # A forecast partition lost from outside: `missing` reruns exactly that cell and the page after it.
    (platform.data / f"lake/ml/revenue_forecast/as_of={end}/part-0.parquet").unlink()
    third = platform.cli(*base, "--reprocess", "missing")
    assert third.returncode == 0, third.stdout
    mended = [r for r in platform.runs_named(f"backfill {window}") if r.id not in (parent.id, rerun.id)]
    assert set(platform.children(mended[0].id)) == {f"sales-forecast {end}", f"dashboards {end}"}
    assert (platform.data / f"lake/ml/revenue_forecast/as_of={end}/part-0.parquet").is_file()
    assert platform.counts(start, end) == counts
    record(
        "11 a backfill cell that keeps failing, then reprocess failed, then missing",
        passed=True,
        cells_blocked=len(missing) - 1,
        cells_completed_despite_it=len(done),
        cells_rerun=len(missing),
        cells_rerun_for_a_lost_partition=2,
        **rows_against_lake(counts),
    )


def dry_run_plan(platform: Platform, base: tuple[str, ...], reprocess: str) -> tuple[set[str], set[str]]:
    """(cells that would run, cells that would not) in a dry run's plan artifact."""
    dry = platform.cli(*base, "--reprocess", reprocess, "--dry-run")
    assert dry.returncode == 0, dry.stdout
    window = base[base.index("--start") + 1], base[base.index("--end") + 1]
    newest = max(platform.runs_named(f"backfill {window[0]}..{window[1]} (dry run)"), key=lambda r: r.created)
    plan = grid_states(grid_table(platform, newest.id, "backfill-plan-"))
    return (
        {name for name, state in plan.items() if state == "waiting"},
        {name for name, state in plan.items() if state == "skipped"},
    )
