"""The run window: an inclusive range of days, and the one rule that resolves it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

# The longest range one run of a team flow may take (a landing, a dbt build); longer ranges are split into
# runs of at most this many days (`./dev land`, backfills).
MAX_RUN_DAYS = 366


def yesterday(today: date | None = None) -> date:
    """The default day of a run, decided when the run starts (never at import time)."""
    return (today or date.today()) - timedelta(days=1)


@dataclass(frozen=True)
class Window:
    """An inclusive range of days; never ends before it starts."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"end_date {self.end.isoformat()} is before start_date {self.start.isoformat()}")

    def __str__(self) -> str:
        return self.start.isoformat() if self.start == self.end else f"{self.start}..{self.end}"

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]

    def chunks(self, days: int) -> list[Window]:
        """This window as consecutive windows of at most `days` days."""
        if days < 1:
            raise ValueError(f"a chunk spans at least one day, not {days}")
        out, start = [], self.start
        while start <= self.end:
            end = min(start + timedelta(days=days - 1), self.end)
            out.append(Window(start, end))
            start = end + timedelta(days=1)
        return out

    def parameters(self) -> dict[str, str]:
        """The window as every team flow's `start_date` / `end_date` parameters."""
        return {"start_date": self.start.isoformat(), "end_date": self.end.isoformat()}


def resolve_window(start: date | None, end: date | None, today: date | None = None) -> Window:
    """The one rule: an empty date is the other one, or yesterday; end before start is rejected."""
    start, end = start or end or yesterday(today), end or start or yesterday(today)
    return Window(start, end)


def trailing_window(start: date | None, end: date | None, days: int, today: date | None = None) -> Window:
    """For views over recent history (the dashboard): the window ends on `end` (empty: yesterday) and,
    without a start, spans the `days` days up to it; end before start is rejected."""
    if days < 1:
        raise ValueError(f"a trailing window spans at least one day, not {days}")
    end = end or yesterday(today)
    return Window(start or end - timedelta(days=days - 1), end)
