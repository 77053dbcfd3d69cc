"""A backfill as a grid: one cell per (child, window), each started as soon as the cells it needs are done.

No Prefect here: the backfill flow drives a Grid (which cells may start now, what happened to each),
and the rules are plain functions tested as such. The rules come from the plan (plan.CHILDREN, the
teams' declared datasets, and each team's cell size: `plan.cell_windows`):

- a child's cells are its own windows: a landing may take a week per cell, dbt a month, the forecast
  one cell over the whole range;
- a cell needs the cells of the children it reads whose windows overlap its own (dbt's month waits for
  the landings of its weeks, not for the dashboards, nor for a landing it does not read);
- a child whose runs build on its own earlier output (`Child.in_order`: dbt's incremental models)
  also needs its own previous cell;
- at most `cap` cells of a team run at once (a backfill may set its own caps);
- a failed cell is retried after a backoff that doubles, up to its attempts; one that exhausts them
  blocks only the cells that need it, transitively, and every other cell goes on.

What to run is decided per cell by the reprocess mode: `all`; `missing` (skip a cell whose outputs are
complete for its window, checked from the data, unless a cell it needs runs: new inputs mean new
outputs); `failed` (run only the cells that did not complete in the last backfill of the range).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from jaffle_contract.deployments import BACKFILL

from jaffle_coordinator.plan import CAPS, Child, Window


class Mode(enum.StrEnum):
    ALL = "all"
    MISSING = "missing"
    FAILED = "failed"


class State(enum.StrEnum):
    WAITING = "waiting"  # to run once the cells it needs are done
    RUNNING = "running"
    RETRYING = "retrying"  # failed; starts again after its backoff
    COMPLETED = "completed"
    SKIPPED = "skipped"  # not run: nothing to do (see its reason)
    FAILED = "failed"  # failed on its last attempt
    BLOCKED = "blocked"  # not run: a cell it needs failed

    @property
    def done(self) -> bool:
        """Whether the cells that need this one may start."""
        return self in (State.COMPLETED, State.SKIPPED)

    @property
    def final(self) -> bool:
        return self in (State.COMPLETED, State.SKIPPED, State.FAILED, State.BLOCKED)


DAY = timedelta(days=1)
Key = tuple[str, int]  # (child name, index of the cell among the child's)


@dataclass
class Cell:
    child: Child
    team: str
    chunk: int  # its index among its child's cells
    window: Window
    last: bool = True  # the child's last cell (every other runs with the team's `not_last` parameters)
    state: State = State.WAITING
    reason: str = ""
    attempts: int = 0
    not_before: float = 0.0  # a retry's earliest start, on the driver's clock
    run_name: str = ""
    run_url: str = ""

    @property
    def key(self) -> Key:
        return (self.child.name, self.chunk)

    @property
    def name(self) -> str:
        """The cell's flow-run name, one per cell: a rerun of the backfill finds its earlier runs."""
        return f"{self.child.name} {self.window}"

    @property
    def parameters(self) -> dict[str, object]:
        """Its run's parameters: its window, and unless it is its child's last cell, what the team runs
        every cell but the last with (work that belongs once per backfill, such as dbt's docs)."""
        return {**self.window.parameters(), **({} if self.last else dict(self.child.not_last))}


class Grid:
    """The cells of a backfill, their dependencies, and what may start next."""

    def __init__(
        self,
        children: Iterable[Child],
        windows: Mapping[str, list[Window]] | list[Window],
        *,
        caps: Mapping[str, int] | None = None,
        attempts: int = BACKFILL.attempts,
        backoff_seconds: float = BACKFILL.backoff_seconds,
    ):
        self.children = tuple(children)  # each after the children it needs
        # Each child's cell windows (one list: the same windows for every child).
        self.windows = {
            child.name: list(windows if isinstance(windows, list) else windows[child.name])
            for child in self.children
        }
        # The table's columns: the range cut wherever some cell starts (a cell spans one or more).
        starts = sorted({w.start for ws in self.windows.values() for w in ws})
        ends = sorted({w.end for ws in self.windows.values() for w in ws})
        last_days = [start - DAY for start in starts[1:]] + ends[-1:]
        self.chunks = [Window(start, end) for start, end in zip(starts, last_days, strict=True)]
        known = {child.team for child in self.children}
        unknown = set(caps or {}) - known
        if unknown:
            raise ValueError(f"caps name unknown teams {sorted(unknown)}; the teams are {sorted(known)}")
        self.caps = {team: CAPS.get(team, 1) for team in known} | dict(caps or {})
        bad = {name: cap for name, cap in self.caps.items() if cap < 1}
        if bad:
            raise ValueError(f"a cap is at least 1: {bad}")
        if attempts < 1:
            raise ValueError(f"a cell is tried at least once, not {attempts} times")
        self.attempts, self.backoff_seconds = attempts, backoff_seconds
        self.cells: dict[Key, Cell] = {}
        self.needs: dict[Key, list[Key]] = {}
        self.order = {child.name: position for position, child in enumerate(self.children)}
        for child in self.children:
            here = self.order[child.name]
            unplaced = [name for name in child.producers if self.order.get(name, len(self.order)) >= here]
            if unplaced:
                raise ValueError(f"{child.name} needs {unplaced}, which do not come before it in the plan")
            own = self.windows[child.name]
            for index, window in enumerate(own):
                key = (child.name, index)
                self.cells[key] = Cell(child, child.team, index, window, last=index == len(own) - 1)
                self.needs[key] = [
                    (producer, at)
                    for producer in child.producers
                    for at, theirs in enumerate(self.windows[producer])
                    if theirs.start <= window.end and window.start <= theirs.end
                ]
                if child.in_order and index:
                    self.needs[key].append((child.name, index - 1))

    # --- what to run --------------------------------------------------------------------------

    def plan(
        self,
        mode: Mode,
        missing: Callable[[Cell], str | None] | None = None,
        last_states: Mapping[str, str] | None = None,
    ) -> None:
        """Decide, per cell, whether it runs (WAITING) or is skipped, and why.

        `missing(cell)`: what the cell's outputs lack for its window, read from the data (None: they
        are complete). `last_states`: each cell's state in the last backfill of this range, by cell name."""
        if mode == Mode.MISSING and missing is None:
            raise ValueError("mode 'missing' needs a check of the data")
        for key in self._in_dependency_order():
            cell = self.cells[key]
            upstream_runs = [need for need in self.needs[key] if self.cells[need].state == State.WAITING]
            if mode == Mode.ALL:
                cell.state, cell.reason = State.WAITING, "reprocess all"
            elif mode == Mode.MISSING:
                assert missing is not None
                lacking = None if upstream_runs else missing(cell)
                if upstream_runs:
                    cell.state, cell.reason = State.WAITING, f"its input {self._label(upstream_runs[0])} runs"
                elif not cell.child.proves:
                    cell.state, cell.reason = State.WAITING, "no dataset proves its window: it runs"
                elif lacking is None:
                    cell.state, cell.reason = State.SKIPPED, "complete in the data"
                else:
                    cell.state, cell.reason = State.WAITING, f"missing in the data: {lacking}"
            else:
                last = (last_states or {}).get(cell.name)
                if upstream_runs:
                    cell.state, cell.reason = State.WAITING, f"its input {self._label(upstream_runs[0])} runs"
                elif last == State.COMPLETED or last == State.SKIPPED:
                    cell.state, cell.reason = State.SKIPPED, f"{last} in the last backfill"
                else:
                    cell.state, cell.reason = State.WAITING, f"{last or 'not run'} in the last backfill"

    def to_run(self) -> list[Cell]:
        return [cell for cell in self.cells.values() if cell.state == State.WAITING]

    # --- driving ------------------------------------------------------------------------------

    def startable(self, now: float) -> list[Cell]:
        """Cells that may start now: their needs done, their backoff over, within their team's cap.
        Earliest windows first, so the earliest days finish first."""
        running = dict.fromkeys(self.caps, 0)
        for cell in self.cells.values():
            if cell.state == State.RUNNING:
                running[cell.team] += 1
        out = []
        for cell in sorted(self.cells.values(), key=lambda c: (c.window.start, self.order[c.child.name])):
            if cell.state not in (State.WAITING, State.RETRYING) or cell.not_before > now:
                continue
            if not all(self.cells[need].state.done for need in self.needs[cell.key]):
                continue
            if running[cell.team] >= self.caps[cell.team]:
                continue
            running[cell.team] += 1
            out.append(cell)
        return out

    def started(self, cell: Cell, run_name: str = "", run_url: str = "") -> None:
        cell.state, cell.attempts = State.RUNNING, cell.attempts + 1
        cell.run_name, cell.run_url = run_name or cell.name, run_url

    def completed(self, cell: Cell, reason: str = "") -> None:
        cell.state, cell.reason = State.COMPLETED, reason or cell.reason

    def failed(self, cell: Cell, reason: str, now: float) -> None:
        """A run of the cell did not complete: retry it after a backoff, or fail it and block
        every cell downstream of it."""
        if cell.attempts < self.attempts:
            cell.state, cell.reason = State.RETRYING, f"attempt {cell.attempts} failed: {reason}"
            cell.not_before = now + self.backoff_seconds * 2 ** (cell.attempts - 1)
            return
        cell.state, cell.reason = State.FAILED, reason
        for key in self.downstream(cell.key):
            below = self.cells[key]
            if below.state in (State.WAITING, State.RETRYING):
                below.state, below.reason = State.BLOCKED, f"needs {self._label(cell.key)}, which failed"

    def downstream(self, key: Key) -> list[Key]:
        """Every cell that needs `key`, directly or not."""
        out, seen, todo = [], {key}, [key]
        while todo:
            current = todo.pop()
            for other, needs in self.needs.items():
                if current in needs and other not in seen:
                    seen.add(other)
                    out.append(other)
                    todo.append(other)
        return out

    @property
    def finished(self) -> bool:
        return all(cell.state.final for cell in self.cells.values())

    def next_retry(self) -> float | None:
        waits = [cell.not_before for cell in self.cells.values() if cell.state == State.RETRYING]
        return min(waits) if waits else None

    def counts(self) -> dict[State, int]:
        out = dict.fromkeys(State, 0)
        for cell in self.cells.values():
            out[cell.state] += 1
        return out

    def tally(self) -> str:
        """The counts in words, as the CLI's grid ends: `4/18 cells ended (blocked 1, completed 3, ...)`
        (the states some cell is in, by name)."""
        counts = self.counts()
        ended = sum(n for state, n in counts.items() if state.final)
        states = ", ".join(f"{state.value} {n}" for state, n in sorted(counts.items()) if n)
        return f"{ended}/{len(self.cells)} cells ended ({states})"

    # --- helpers ------------------------------------------------------------------------------

    def _in_dependency_order(self) -> list[Key]:
        # Children in the plan's order, chunks in order: every cell comes after the cells it needs.
        return sorted(self.cells, key=lambda k: (self.order[k[0]], k[1]))

    def _label(self, key: Key) -> str:
        return self.cells[key].name
