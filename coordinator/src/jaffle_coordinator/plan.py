"""The platform's run plan: which team deployments run, in which order, for which window.

This is the contract with the teams: deployment names and their parameters. No team code is imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class Child:
    """A team deployment the parent runs."""

    deployment: str  # "<flow name>/<deployment name>"
    label: str | None = None  # a name of its own, when one deployment runs as several children

    @property
    def name(self) -> str:
        return self.label or self.deployment.split("/", 1)[1]


def _child(name: str) -> Child:
    return Child(f"{name}/{name}")


# Stages run in order; the children of one stage run concurrently. Attribution reads the published
# jaffle_shop warehouse, so it waits for dbt-jaffle-shop; it and the forecast are independent.
STAGES: tuple[tuple[str, tuple[Child, ...]], ...] = (
    ("ingestion", (_child("raw-data-jaffle-shop"), _child("raw-data-marketing"))),
    ("warehouse", (_child("dbt-jaffle-shop"),)),
    # Both read the published jaffle_shop warehouse and write different things: run them side by side.
    ("attribution and forecast", (_child("dbt-attribution"), _child("sales-forecast"))),
    ("dashboards", (_child("dashboards"),)),
)
CHILD_NAMES = tuple(child.name for _, children in STAGES for child in children)


@dataclass(frozen=True)
class Window:
    """An inclusive range of days."""

    start: date
    end: date

    def __str__(self) -> str:
        return self.start.isoformat() if self.start == self.end else f"{self.start}..{self.end}"

    def parameters(self) -> dict[str, str]:
        return {"start_date": self.start.isoformat(), "end_date": self.end.isoformat()}


def resolve_window(start: date | None, end: date | None, today: date | None = None) -> Window:
    """Default to yesterday, decided when called (never at import time); reject end before start."""
    yesterday = (today or date.today()) - timedelta(days=1)
    start, end = start or end or yesterday, end or start or yesterday
    if end < start:
        raise ValueError(f"end_date {end.isoformat()} is before start_date {start.isoformat()}")
    return Window(start, end)


def chunks(window: Window, chunk_days: int) -> list[Window]:
    """Split a window into consecutive chunks of at most `chunk_days` days."""
    if chunk_days < 1:
        raise ValueError(f"chunk_days must be at least 1, got {chunk_days}")
    out, start = [], window.start
    while start <= window.end:
        end = min(start + timedelta(days=chunk_days - 1), window.end)
        out.append(Window(start, end))
        start = end + timedelta(days=1)
    return out


def check_fire_and_forget(names: list[str]) -> set[str]:
    """Only children nobody downstream waits on may be fired and forgotten."""
    last_stage = {child.name for child in STAGES[-1][1]}
    unknown = set(names) - set(CHILD_NAMES)
    if unknown:
        raise ValueError(f"unknown child deployment(s) {sorted(unknown)}; known: {list(CHILD_NAMES)}")
    waited_on = set(names) - last_stage
    if waited_on:
        raise ValueError(f"{sorted(waited_on)} cannot be fire-and-forget: later stages depend on them")
    return set(names)


class ChildRunFailed(RuntimeError):
    """A child run did not complete; the message names it, its state and its error."""

    def __init__(self, failures: list[tuple[str, str, str, str]]):
        self.failures = failures
        super().__init__(
            "; ".join(
                f"child run '{run}' of deployment {child} ended {state}: {message or 'no message'}"
                for child, run, state, message in failures
            )
        )
