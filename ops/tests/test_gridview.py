"""The backfill grid as the terminal draws it, from the table artifact the backfill flow writes."""

from __future__ import annotations

import pytest
from jaffle_ops import gridview
from jaffle_ops.commands.runs import _parse_caps, backfill_options
from jaffle_ops.errors import PlatformError
from rich.console import Console

# Two children over three chunks, as `backfill.rows` writes them (a state, then a link once a run exists).
TABLE = [
    {
        "child": "raw-data-jaffle-shop",
        "team": "ingestion",
        "2024-07-01..2024-07-03": "✔ completed [run](http://127.0.0.1:4200/runs/flow-run/1)",
        "2024-07-04..2024-07-06": "✔ completed [run](http://127.0.0.1:4200/runs/flow-run/2)",
        "2024-07-07..2024-07-09": "▶ running [run](http://127.0.0.1:4200/runs/flow-run/3)",
    },
    {
        "child": "dbt-jaffle-shop",
        "team": "dbt-transform",
        "2024-07-01..2024-07-03": "↻ retrying [run](http://127.0.0.1:4200/runs/flow-run/4)",
        "2024-07-04..2024-07-06": "· waiting",
        "2024-07-07..2024-07-09": "⊘ blocked",
    },
]


def test_the_grid_reads_each_cells_state_and_counts_them():
    assert gridview.cell_state(TABLE[0]["2024-07-07..2024-07-09"]) == ("▶", "running")
    assert gridview.chunks_of(TABLE) == [key for key in TABLE[0] if key.startswith("2024")]
    assert gridview.counts(TABLE) == {"completed": 2, "running": 1, "retrying": 1, "waiting": 1, "blocked": 1}


def test_a_cell_spanning_columns_counts_once_and_is_drawn_across_them():
    # dbt in one cell over the three columns, the dashboards' once cell as well
    spanning = [
        TABLE[0],
        {"child": "dbt-jaffle-shop", "team": "dbt-transform", **dict.fromkeys(gridview.chunks_of(TABLE), "")},
    ]
    spanning[1]["2024-07-01..2024-07-03"] = (
        "· waiting: its input raw-data-jaffle-shop 2024-07-07..2024-07-09 runs"
    )
    assert gridview.counts(spanning) == {"completed": 2, "running": 1, "waiting": 1}
    assert gridview.cells_of(spanning, spanning[1]) == [
        ("2024-07-01..2024-07-09", spanning[1]["2024-07-01..2024-07-03"])
    ]
    text = gridview.as_text(spanning, 30.0)
    assert text.splitlines()[2].split()[1:] == ["waiting", gridview.SPANNED, gridview.SPANNED]
    assert "3/4 cells ended" not in text and "2/4 cells ended" in text
    assert "dbt-jaffle-shop 2024-07-01..2024-07-09: its input" in gridview.reasons(spanning)


def test_the_time_left_is_the_pace_so_far_and_unknown_before_a_cell_ends():
    # 3 of 6 cells ended (2 completed, 1 blocked) in 60 s: about 60 s for the other 3.
    assert gridview.eta(TABLE, 60.0) == pytest.approx(60.0)
    waiting = [{**row, **{c: "· waiting" for c in gridview.chunks_of(TABLE)}} for row in TABLE]
    assert gridview.eta(waiting, 60.0) is None


def test_as_text_has_a_row_per_child_a_column_per_chunk_and_a_tally():
    lines = gridview.as_text(TABLE, 60.0).splitlines()
    assert lines[0].split() == ["07-01..07-03", "07-04..07-06", "07-07..07-09"]
    assert lines[1].split() == ["raw-data-jaffle-shop", "completed", "completed", "running"]
    assert lines[2].split() == ["dbt-jaffle-shop", "retrying", "waiting", "blocked"]
    assert lines[3] == (
        "  3/6 cells ended (blocked 1, completed 2, retrying 1, running 1, waiting 1), 60 s, about 60 s left"
    )


def test_the_live_grid_colours_each_state():
    console = Console(width=120, force_terminal=True, color_system="truecolor")
    segments = list(console.render(gridview.render(TABLE, 60.0)))
    symbols = {"✔": "completed", "▶": "running", "↻": "retrying", "·": "waiting", "⊘": "blocked"}
    styles = {seg.text.strip(): seg.style for seg in segments if seg.text.strip() in symbols}
    for symbol, state in symbols.items():
        assert styles[symbol] == console.get_style(gridview.COLOURS[state]), state
    text = "".join(seg.text for seg in segments)
    assert "3/6 cells ended, 60 s, about 60 s left" in text


def test_a_dry_runs_plan_says_why_each_cell_would_run_or_not():
    plan = [
        {
            "child": "raw-data-jaffle-shop",
            "team": "ingestion",
            "2024-07-01..2024-07-03": "– skipped: complete in the data",
            "2024-07-04..2024-07-06": (
                "· waiting: missing in the data: raw.jaffle_shop.orders lacks 2024-07-05"
            ),
        }
    ]
    assert gridview.reasons(plan).splitlines() == [
        "would run (1):",
        "  raw-data-jaffle-shop 2024-07-04..2024-07-06: missing in the data: raw.jaffle_shop.orders lacks "
        "2024-07-05",
        "would skip (1):",
        "  raw-data-jaffle-shop 2024-07-01..2024-07-03: complete in the data",
    ]
    assert gridview.counts(plan) == {"skipped": 1, "waiting": 1}


def test_caps_are_team_equals_a_whole_number():
    assert _parse_caps(["ingestion=4", "dbt-transform=1"]) == {"ingestion": 4, "dbt-transform": 1}
    assert _parse_caps(None) is None
    with pytest.raises(PlatformError, match=r"--cap takes TEAM=N .* not 'ingestion'"):
        _parse_caps(["ingestion"])


def test_cells_are_team_equals_days_or_once():
    from jaffle_ops.commands.runs import _parse_cells

    assert _parse_cells(["ingestion=14", "ml-forecast=once"]) == {"ingestion": 14, "ml-forecast": "once"}
    assert _parse_cells(None) is None
    for wrong in ("ingestion", "ingestion=0", "ingestion=weekly", "=7"):
        with pytest.raises(PlatformError, match=rf"--cell takes TEAM=SIZE .* not '{wrong}'"):
            _parse_cells([wrong])


def test_the_backfill_flags_are_the_backfill_flows_options_with_the_same_defaults():
    import dataclasses

    from jaffle_contract import deployments
    from jaffle_ops.cli import parser

    window = ["backfill", "--start", "2024-07-01", "--end", "2024-07-21"]
    assert backfill_options(parser().parse_args(window)) == dataclasses.asdict(deployments.BACKFILL)
    given = ["--chunk-days", "3", "--reprocess", "failed", "--cap", "ingestion=1", "--attempts", "4"]
    given += ["--backoff-seconds", "2.5", "--dry-run", "--cell", "ml-forecast=7", "--cell", "dashboards=once"]
    assert backfill_options(parser().parse_args(window + given)) == {
        "chunk_days": 3,
        "cells": {"ml-forecast": 7, "dashboards": "once"},
        "reprocess": "failed",
        "caps": {"ingestion": 1},
        "attempts": 4,
        "backoff_seconds": 2.5,
        "dry_run": True,
    }
