"""The backfill grid's rules: dependencies from the plan (the declared datasets), caps, retries with
backoff, a failure
that blocks only what needs it, and the reprocess modes."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from jaffle_coordinator import plan
from jaffle_coordinator.grid import Grid, Mode, State

CHUNKS = plan.chunks(plan.Window(date(2026, 1, 1), date(2026, 1, 21)), 7)  # 3 chunks


def grid(**kwargs) -> Grid:
    g = Grid(plan.CHILDREN, CHUNKS, **kwargs)
    g.plan(Mode.ALL)
    return g


def names(cells) -> list[tuple[str, int]]:
    return [cell.key for cell in cells]


def run_all(g: Grid, fails: dict[tuple[str, int], int] | None = None) -> list[tuple[str, int]]:
    """Drive the grid to its end one wave at a time; `fails`: how many attempts of a cell fail."""
    fails, order, now = dict(fails or {}), [], 0.0
    while not g.finished:
        wave = g.startable(now)
        if not wave:
            now = g.next_retry() or now + 1
            continue
        for cell in wave:
            g.started(cell)
            order.append(cell.key)
        for cell in wave:
            if fails.get(cell.key, 0) > 0:
                fails[cell.key] -= 1
                g.failed(cell, "injected", now)
            else:
                g.completed(cell)
    return order


def test_a_chunk_starts_its_ingestion_without_waiting_for_earlier_chunks_downstream():
    g = grid()
    first = g.startable(0)
    # ingestion of every chunk at once (cap 3, two children: 3 of 6), nothing downstream yet
    assert {cell.team for cell in first} == {"ingestion"} and len(first) == 3
    for cell in first:
        g.started(cell)
        g.completed(cell)
    ready = names(g.startable(0))
    # dbt-jaffle-shop of chunk 0 (its ingestion done); of chunk 1 not: it builds on chunk 0
    assert ("dbt-jaffle-shop", 0) in ready and ("dbt-jaffle-shop", 1) not in ready


def test_what_a_cell_reads_in_its_chunk_and_an_in_order_childs_previous_chunk_are_needed():
    g = grid()
    # not the marketing landing: the jaffle_shop project reads none of it
    assert sorted(g.needs[("dbt-jaffle-shop", 2)]) == [("dbt-jaffle-shop", 1), ("raw-data-jaffle-shop", 2)]
    assert sorted(g.needs[("sales-forecast", 1)]) == [("dbt-jaffle-shop", 1)]  # not in order
    assert g.needs[("raw-data-marketing", 2)] == []


def test_caps_hold_and_a_backfill_may_set_its_own():
    g = grid(caps={"ingestion": 1})
    assert len(g.startable(0)) == 1
    with pytest.raises(ValueError, match="unknown teams"):
        Grid(plan.CHILDREN, CHUNKS, caps={"ingest": 1})
    with pytest.raises(ValueError, match="at least 1"):
        Grid(plan.CHILDREN, CHUNKS, caps={"ingestion": 0})


def test_every_cell_runs_once_after_what_it_needs():
    g = grid()
    order = run_all(g)
    assert sorted(order) == sorted(g.cells) and len(order) == len(set(order))
    position = {key: i for i, key in enumerate(order)}
    assert all(position[need] < position[key] for key, needs in g.needs.items() for need in needs)


def test_a_cell_that_fails_once_is_retried_after_its_backoff_and_the_backfill_completes():
    g = grid(attempts=2, backoff_seconds=30)
    order = run_all(g, fails={("dbt-jaffle-shop", 1): 1})
    assert order.count(("dbt-jaffle-shop", 1)) == 2
    assert all(cell.state == State.COMPLETED for cell in g.cells.values())


def test_a_cell_that_keeps_failing_blocks_only_what_needs_it():
    g = grid(attempts=2, backoff_seconds=1)
    run_all(g, fails={("dbt-jaffle-shop", 1): 5})
    states = {key: cell.state for key, cell in g.cells.items()}
    assert states[("dbt-jaffle-shop", 1)] == State.FAILED
    blocked = {key for key, state in states.items() if state == State.BLOCKED}
    assert blocked == {
        ("dbt-jaffle-shop", 2),  # in order
        ("dbt-attribution", 1),
        ("dbt-attribution", 2),
        ("sales-forecast", 1),
        ("sales-forecast", 2),
        ("dashboards", 1),
        ("dashboards", 2),
    }
    others = set(states) - blocked - {("dbt-jaffle-shop", 1)}
    assert all(states[key] == State.COMPLETED for key in others)  # the rest finished
    # The grid artifact's description says so in words, as the CLI's last line does.
    assert g.tally() == "18/18 cells ended (blocked 7, completed 10, failed 1)"


def test_missing_skips_what_the_data_has_unless_an_input_reruns():
    g = Grid(plan.CHILDREN, CHUNKS)
    # the data lacks only chunk 1's jaffle-shop ingestion
    lacking = {("raw-data-jaffle-shop", 1): "no orders"}
    g.plan(Mode.MISSING, missing=lambda cell: lacking.get(cell.key))
    runs = set(names(g.to_run()))
    assert ("raw-data-jaffle-shop", 1) in runs and ("raw-data-marketing", 1) not in runs
    # new inputs mean new outputs: everything downstream of it reruns, later dbt chunks too
    assert ("dbt-jaffle-shop", 1) in runs and ("dbt-jaffle-shop", 2) in runs
    assert ("dashboards", 0) not in runs and ("dbt-jaffle-shop", 0) not in runs
    assert g.cells[("dbt-jaffle-shop", 2)].reason == "its input dbt-jaffle-shop 2026-01-08..2026-01-14 runs"
    with pytest.raises(ValueError, match="check of the data"):
        g.plan(Mode.MISSING)


def test_failed_reruns_exactly_what_did_not_complete_last_time():
    g = grid(attempts=1)
    run_all(g, fails={("dbt-attribution", 2): 1})
    last = {cell.name: cell.state.value for cell in g.cells.values()}
    again = Grid(plan.CHILDREN, CHUNKS)
    again.plan(Mode.FAILED, last_states=last)
    assert set(names(again.to_run())) == {("dbt-attribution", 2), ("dashboards", 2)}
    order = run_all(again)
    assert sorted(order) == [("dashboards", 2), ("dbt-attribution", 2)]


def test_the_reprocess_modes_are_one_list_for_the_flow_the_cli_and_the_grid():
    import inspect
    import typing

    from jaffle_contract import deployments
    from jaffle_coordinator.flows import data_platform_backfill

    annotation = inspect.signature(data_platform_backfill.fn).parameters["reprocess"].annotation
    hints = typing.get_type_hints(data_platform_backfill.fn)
    assert typing.get_args(hints["reprocess"]) == deployments.REPROCESS, annotation
    assert tuple(Mode) == deployments.REPROCESS


def test_the_backfill_flows_options_are_the_declared_ones_with_their_defaults():
    """The same list `./dev backfill` takes its flags from (ops tests hold the CLI to it)."""
    import dataclasses
    import inspect

    from jaffle_contract import deployments
    from jaffle_coordinator.flows import data_platform_backfill

    taken = inspect.signature(data_platform_backfill.fn).parameters
    options = {name: p.default for name, p in taken.items() if name not in ("start_date", "end_date")}
    declared = dataclasses.asdict(deployments.BACKFILL)
    assert {name: getattr(d, "default", d) for name, d in options.items()} == declared


# --- cells sized per team ---------------------------------------------------------------------------

YEAR = plan.Window(date(2025, 1, 1), date(2025, 12, 31))


def test_each_team_cuts_the_range_into_its_own_cells_and_a_cell_needs_the_cells_its_window_overlaps():
    sizes = plan.cell_sizes(cells={"ingestion": 7, "dbt-transform": 28, "ml-forecast": "once"})
    g = Grid(plan.CHILDREN, plan.cell_windows(YEAR, sizes))
    count = {name: len(windows) for name, windows in g.windows.items()}
    # 52 weeks, the last of 8 days (a day alone is not worth a run); 13 times 28 days, the last of 29
    assert count["raw-data-jaffle-shop"] == 52 and count["dbt-jaffle-shop"] == 13
    assert len(g.windows["raw-data-jaffle-shop"][-1].days) == 8
    assert count["sales-forecast"] == 1 and g.windows["sales-forecast"] == [YEAR]
    # dbt's second 28 days (Jan 29..Feb 25) read the landings of the weeks they overlap: Jan 29..Feb 25
    second = g.needs[("dbt-jaffle-shop", 1)]
    landed = [g.cells[key].window for key in second if key[0] == "raw-data-jaffle-shop"]
    assert [str(w) for w in landed] == [
        "2025-01-29..2025-02-04",
        "2025-02-05..2025-02-11",
        "2025-02-12..2025-02-18",
        "2025-02-19..2025-02-25",
    ]
    assert ("dbt-jaffle-shop", 0) in second  # in order: its previous cell
    # the forecast, once over the year, waits for every cell of what it reads
    assert sum(1 for key in g.needs[("sales-forecast", 0)] if key[0] == "dbt-jaffle-shop") == 13
    # the columns: the range cut wherever some cell starts (every week start, every 28 days' start)
    assert g.chunks[0].start == YEAR.start and g.chunks[-1].end == YEAR.end
    assert all(
        later.start == earlier.end + timedelta(days=1)
        for earlier, later in zip(g.chunks, g.chunks[1:], strict=False)
    )
    assert sum(len(c.days) for c in g.chunks) == len(YEAR.days)


def test_the_declared_sizes_give_a_year_few_cells_and_the_grid_runs_to_its_end():
    g = Grid(plan.CHILDREN, plan.cell_windows(YEAR, plan.cell_sizes()))
    g.plan(Mode.ALL)
    assert len(g.cells) < 2 * len(plan.CHILD_NAMES) * 7  # a 7-day grid: 53 a child
    for name, windows in g.windows.items():
        assert windows[0].start == YEAR.start and windows[-1].end == YEAR.end, name
    order = run_all(g)
    assert len(order) == len(g.cells) and g.counts()[State.COMPLETED] == len(g.cells)
    # nothing ran before what it reads
    position = {key: at for at, key in enumerate(order)}
    assert all(position[need] < position[key] for key, needs in g.needs.items() for need in needs)


def test_every_cell_but_a_childs_last_runs_with_its_teams_not_last_parameters():
    g = Grid(plan.CHILDREN, plan.cell_windows(YEAR, plan.cell_sizes(cells={"dbt-transform": 91})))
    dbt = [g.cells[("dbt-jaffle-shop", i)] for i in range(len(g.windows["dbt-jaffle-shop"]))]
    assert [cell.parameters.get("docs") for cell in dbt] == [False, False, False, None]  # 91, 91, 91, 92
    assert dbt[-1].parameters == {"start_date": "2025-10-01", "end_date": "2025-12-31"}
    assert g.cells[("raw-data-jaffle-shop", 0)].parameters.keys() == {"start_date", "end_date"}


def test_a_cell_size_names_what_is_wrong():
    with pytest.raises(ValueError, match=r"unknown teams \['dbt'\]"):
        plan.cell_sizes(cells={"dbt": 7})
    with pytest.raises(ValueError, match=r"0 is not a cell size: a number of days from 1 to 366, or 'once'"):
        plan.cell_sizes(cells={"ingestion": 0})
    assert plan.cell_sizes(chunk_days=3, cells={"ml-forecast": "once"}) == {
        team: "once" if team == "ml-forecast" else 3 for team in plan.CELLS
    }
