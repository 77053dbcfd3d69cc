"""The trivial child the benchmark runs: its cost is orchestration, not work."""

from __future__ import annotations

from prefect import flow


@flow(name="bench-trivial")
def trivial(n: int = 0) -> int:
    """Return its input."""
    return n
