"""A landing file that covers part of a day, then one cut short: other days are kept, the cut one is
rejected with its reason."""

from __future__ import annotations

import subprocess
import time
from datetime import date
from pathlib import Path

import pytest
from jaffle_contract.window import Window

from .harness import SHOP_INGESTION, parquet_files, trigger

pytestmark = [pytest.mark.integration, pytest.mark.faults]
# Days of its own, landed first: no other scenario lands them, and this one rewrites the second.
DAYS = Window(date(2024, 4, 15), date(2024, 4, 17))


def _pyarrow(script: str, *paths: Path) -> str:
    """Run a line of pyarrow (`pq`, `sys` imported) in the ingestion team's environment."""
    from jaffle_ops.environments import hatch_env_path

    python = hatch_env_path("ingestion") / "bin" / "python"
    done = subprocess.run(
        [str(python), "-c", f"import sys, pyarrow.parquet as pq; {script}", *map(str, paths)],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_landing_a_partial_file_keeps_other_days_and_a_truncated_one_is_rejected(platform, record):
    orders = platform.data / "lake/raw/jaffle_shop/orders"
    landed_first = trigger(platform, SHOP_INGESTION, DAYS.parameters())
    assert landed_first.state.is_completed(), landed_first.state
    days = [day.isoformat() for day in DAYS.days]
    before = {d: (orders / f"date={d}/part-0.parquet").read_bytes() for d in days}
    count = "print(pq.read_table(sys.argv[1]).num_rows)"
    whole_day = _pyarrow(count, orders / f"date={days[1]}/part-0.parquet")
    landing = platform.data / "landing/jaffle_shop/orders"
    landing.mkdir(parents=True, exist_ok=True)
    partial = landing / f"only-{days[1]}.parquet"
    # An export covering only the second day, with the first 10 of that day's orders.
    _pyarrow(
        "pq.write_table(pq.read_table(sys.argv[1]).slice(0, 10), sys.argv[2])",
        orders / f"date={days[1]}/part-0.parquet",
        partial,
    )
    window = {"start_date": days[0], "end_date": days[-1], "ingest_from": "landing"}
    ran = trigger(platform, SHOP_INGESTION, window)
    assert ran.state.is_completed(), ran.state
    after = {d: (orders / f"date={d}/part-0.parquet").read_bytes() for d in days}
    assert after[days[0]] == before[days[0]] and after[days[2]] == before[days[2]]
    landed = _pyarrow(count, orders / f"date={days[1]}/part-0.parquet")
    assert landed == "10"

    lake_before = parquet_files(platform.data / "lake")
    whole = (orders / f"date={days[2]}/part-0.parquet").read_bytes()
    (landing / "cut-short.parquet").write_bytes(whole[: len(whole) // 2])  # a copy interrupted mid-file
    began = time.monotonic()
    failed = trigger(platform, SHOP_INGESTION, window)
    seconds = time.monotonic() - began
    assert failed.state.is_failed() and "cut-short.parquet" in failed.state.message
    rejected = platform.data / "landing/_rejected/jaffle_shop/orders"
    assert (rejected / "cut-short.parquet").read_bytes() == whole[: len(whole) // 2]
    assert "ArrowInvalid" in (rejected / "cut-short.parquet.reason.txt").read_text()
    assert parquet_files(platform.data / "lake") == lake_before  # nothing landed is lost
    partial.unlink()
    # Repair what this scenario broke, as an operator would: land the second day again from its source.
    # The partial export replaced that day's orders but not their items, and every later dbt build would
    # fail its staging test on 2,000-odd items whose orders are gone.
    day = {"start_date": days[1], "end_date": days[1]}
    repaired = trigger(platform, SHOP_INGESTION, day)
    assert repaired.state.is_completed(), repaired.state
    assert _pyarrow(count, orders / f"date={days[1]}/part-0.parquet") == whole_day
    record(
        "7 partial and truncated landing files",
        passed=True,
        seconds_trigger_to_failed=round(seconds, 1),
        partitions_checked_unchanged=len(lake_before),
        rows_lost=0,
        rows_duplicated=0,
    )
