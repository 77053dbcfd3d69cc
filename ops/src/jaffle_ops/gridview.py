"""The backfill grid in a terminal: children as rows, stretches of days as columns, a coloured state per
cell (a cell spanning several columns drawn across them), and a progress bar with an estimate of the
time left.

The backfill flow keeps its grid as a table artifact (one row per child: its team, then one column per
stretch of days; a cell's `<symbol> <state> [run](<link>)` in the column of its first days, the others
it spans empty: `deployments.grid_cells`). This module only draws what that table says, so the
terminal, the UI's artifact and the API never disagree.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from jaffle_contract import deployments
from rich.console import Group
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

COLOURS = {
    "waiting": "dim",
    "running": "bold blue",
    "retrying": "bold yellow",
    "completed": "green",
    "skipped": "cyan",
    "failed": "bold red",
    "blocked": "magenta",
}
FINAL = {"completed", "skipped", "failed", "blocked"}
_STATE = re.compile(r"(?P<symbol>\S+) (?P<state>[a-z]+)")
_FIXED = ("child", "team")
SPANNED = "─"  # a column a cell to its left spans


def cell_state(text: str) -> tuple[str, str]:
    """(symbol, state) of one cell of the grid table."""
    found = _STATE.match(str(text))
    return (found["symbol"], found["state"]) if found else ("?", "unknown")


def chunks_of(table: list[dict[str, Any]]) -> list[str]:
    return [column for column in (table[0] if table else {}) if column not in _FIXED]


def cells_of(table: list[dict[str, Any]], row: dict[str, Any]) -> list[tuple[str, str]]:
    """A row's cells, each as (its window, its text)."""
    return deployments.grid_cells(row, chunks_of(table))


def counts(table: list[dict[str, Any]]) -> Counter[str]:
    return Counter(cell_state(text)[1] for row in table for _, text in cells_of(table, row))


def eta(table: list[dict[str, Any]], elapsed: float) -> float | None:
    """Seconds left at the pace so far (None until a cell has ended)."""
    found = counts(table)
    total, final = sum(found.values()), sum(n for state, n in found.items() if state in FINAL)
    if not final or not total:
        return None
    return elapsed * (total - final) / final


def _short(chunk: str) -> str:
    """A chunk's column header: `2024-05-01..2024-05-07` as `05-01..05-07`."""
    return re.sub(r"\d{4}-(\d\d-\d\d)", r"\1", chunk)


def render(table: list[dict[str, Any]], elapsed: float) -> Group:
    """The grid, a legend of counts and a progress bar, as one renderable."""
    grid = Table(show_edge=False, pad_edge=False, box=None)
    grid.add_column("team", style="dim")
    grid.add_column("child")
    for chunk in chunks_of(table):
        grid.add_column(_short(chunk), justify="center")
    for row in table:
        cells, style = [], ""
        for chunk in chunks_of(table):
            if row.get(chunk):
                symbol, state = cell_state(row[chunk])
                style = COLOURS.get(state, "")
            else:
                symbol = SPANNED  # the cell on its left goes on over these days
            cells.append(Text(symbol, style=style))
        grid.add_row(row.get("team", ""), row["child"], *cells)
    found = counts(table)
    total = sum(found.values()) or 1
    final = sum(n for state, n in found.items() if state in FINAL)
    left = eta(table, elapsed)
    legend = Text("  ".join(f"{state} {n}" for state, n in sorted(found.items())))
    status = Text(
        f"{final}/{total} cells ended, {elapsed:.0f} s"
        + (f", about {left:.0f} s left" if left is not None and final < total else "")
    )
    bar = Table.grid(padding=(0, 1))
    bar.add_row(ProgressBar(total=total, completed=final, width=40), status)
    return Group(grid, legend, bar)


def as_text(table: list[dict[str, Any]], elapsed: float) -> str:
    """The grid as plain text (a log, CI): one line per child, a state word per chunk."""
    chunks = chunks_of(table)
    width = max((len(row["child"]) for row in table), default=5)
    lines = [f"  {'':<{width}}  " + "  ".join(_short(c) for c in chunks)]
    for row in table:
        words = [cell_state(row[c])[1] if row.get(c) else SPANNED for c in chunks]
        states = "  ".join(f"{word:<{len(_short(c))}}" for word, c in zip(words, chunks, strict=True))
        lines.append(f"  {row['child']:<{width}}  {states}")
    found = counts(table)
    final = sum(n for state, n in found.items() if state in FINAL)
    left = eta(table, elapsed)
    tally = ", ".join(f"{state} {n}" for state, n in sorted(found.items()))
    total = sum(found.values())
    ending = f", about {left:.0f} s left" if left is not None and final < total else ""
    lines.append(f"  {final}/{total} cells ended ({tally}), {elapsed:.0f} s{ending}")
    return "\n".join(lines)


def reasons(table: list[dict[str, Any]]) -> str:
    """A plan's cells (a dry run's table says why per cell): what would run, then what would not."""
    runs: list[str] = []
    skips: list[str] = []
    for row in table:
        for window, text in cells_of(table, row):
            state = cell_state(text)[1]
            why = text.split(": ", 1)[1] if ": " in text else ""
            line = f"  {row['child']} {window}" + (f": {why}" if why else "")
            (runs if state == "waiting" else skips).append(line)
    return "\n".join([f"would run ({len(runs)}):", *runs, f"would skip ({len(skips)}):", *skips])
