"""The trivial child the benchmark runs: its cost is orchestration, not work."""

from __future__ import annotations

import time

from prefect import flow


@flow(name="bench-trivial")
def trivial(n: int = 0, sleep: float = 0.0) -> int:
    """Sleep `sleep` seconds (the child's "work") and return its input."""
    time.sleep(sleep)
    return n
