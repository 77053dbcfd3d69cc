"""A lake that is read-only, then full: a clear error each time, and every partition kept."""

from __future__ import annotations

import subprocess
import time

import pytest

from .harness import SHOP_INGESTION, parquet_files, trigger

pytestmark = [pytest.mark.integration, pytest.mark.faults]


def test_a_lake_that_is_read_only_or_full_is_a_clear_error_and_keeps_every_partition(
    platform, record, unavailable, earlier
):
    shop = platform.data / "lake/raw/jaffle_shop"
    saved = platform.data / "jaffle_shop.saved"
    subprocess.run(["cp", "-a", str(shop), str(saved)], check=True)
    mount = ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(shop)]
    mounted = subprocess.run(mount, capture_output=True)
    if mounted.returncode != 0:
        unavailable(f"cannot mount a tmpfs to fill or freeze the lake: {mounted.stderr.decode().strip()}")
    try:
        subprocess.run(f"cp -a {saved}/. {shop}/", shell=True, check=True)
        before = parquet_files(shop)
        assert any(f"date={earlier.start}" in path for path in before), sorted(before)
        window = {"start_date": "2024-06-01", "end_date": "2024-06-02"}

        subprocess.run(["mount", "-o", "remount,ro", str(shop)], check=True)
        began = time.monotonic()
        frozen = trigger(platform, SHOP_INGESTION, window)
        seconds_frozen = time.monotonic() - began
        assert frozen.state.is_failed() and "Read-only file system" in frozen.state.message
        assert "could not write" in frozen.state.message and "is unchanged" in frozen.state.message
        assert parquet_files(shop) == before

        subprocess.run(["mount", "-o", "remount,rw", str(shop)], check=True)
        subprocess.run(["dd", "if=/dev/zero", f"of={shop}/filler", "bs=1M", "count=64"], capture_output=True)
        began = time.monotonic()
        full = trigger(platform, SHOP_INGESTION, window)
        seconds_full = time.monotonic() - began
        assert full.state.is_failed() and "No space left on device" in full.state.message
        after = parquet_files(shop)
        assert {path: after.get(path) for path in before} == before
        assert not list(shop.rglob("*.tmp"))
    finally:
        subprocess.run(["umount", str(shop)], check=False)
        subprocess.run(["rm", "-rf", str(saved)], check=False)
    record(
        "8 lake read-only, then full",
        passed=True,
        seconds_trigger_to_failed_read_only=round(seconds_frozen, 1),
        seconds_trigger_to_failed_full=round(seconds_full, 1),
        partitions_checked_unchanged=len(before),
        rows_lost=0,
        rows_duplicated=0,
    )
