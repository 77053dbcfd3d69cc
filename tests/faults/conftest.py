"""The faults tier's platform, launched once for every scenario file of the folder, and its record."""

from __future__ import annotations

import json
from datetime import date

import pytest
from jaffle_contract.window import Window

from .harness import Platform

# Days built once, before the first scenario that checks rows already there survive its fault. No
# scenario runs on them, so what they hold is what this fixture built.
EARLIER = Window(date(2024, 4, 1), date(2024, 4, 3))


@pytest.fixture(scope="package")
def platform(platforms):
    # Not shared with other tiers: these scenarios kill its server and workers and fill its disk.
    with platforms() as launch:
        cli, home, port = launch("--paused-schedules")
        yield Platform(cli, home, port)


@pytest.fixture(scope="package")
def earlier(platform) -> Window:
    """EARLIER, run end to end (the lake and the warehouse) once, for the scenarios that check rows
    already there survive their fault."""
    built = platform.cli("run", *("--start", EARLIER.start.isoformat(), "--end", EARLIER.end.isoformat()))
    assert built.returncode == 0, built.stdout + built.stderr
    counts = platform.counts(EARLIER.start, EARLIER.end)
    assert counts["warehouse"] == counts["lake"] > 0 and counts["duplicates"] == 0
    return EARLIER


@pytest.fixture(scope="package")
def record(artifacts):
    """`record(scenario, **facts)` adds a scenario's numbers to faults.json in the test artifacts: every
    scenario this run has reached, written again after each (a run cut short keeps what it measured)."""
    path = artifacts / "faults.json"
    recorded: dict[str, dict] = {}

    def add(scenario: str, **facts) -> None:
        recorded[scenario] = facts
        path.write_text(json.dumps(recorded, indent=2, sort_keys=True))
        print(scenario, facts)

    return add
