"""Where a child run's time went, from the timestamps Prefect keeps: launch (created to Running, the
price of isolation: scheduling, a worker picking it up, a new interpreter and its imports) and run
(Running to its end, the team's work)."""

from __future__ import annotations

import statistics
from datetime import datetime


def launch_seconds(created: datetime | None, started: datetime | None) -> float | None:
    """Created to Running, or None for a run that never ran."""
    if created is None or started is None:
        return None
    return round(max((started - created).total_seconds(), 0.0), 2)


def run_seconds(started: datetime | None, ended: datetime | None) -> float | None:
    """Running to terminal, or None for a run that has not ended (or never ran)."""
    if started is None or ended is None:
        return None
    return round(max((ended - started).total_seconds(), 0.0), 2)


def p50(values: list[float | None]) -> float | None:
    """The median of the values known, or None if none is."""
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 2) if known else None
