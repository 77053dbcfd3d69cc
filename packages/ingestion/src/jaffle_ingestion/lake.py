"""The raw layer of the lake: one Parquet file per table and day, written atomically.

Layout (the contract other teams read):
    <lake>/raw/<source>/<table>/date=YYYY-MM-DD/part-0.parquet   daily facts
    <lake>/raw/<source>/<table>/part-0.parquet                    reference tables
A partition is written to a temporary file beside its target and renamed over it, so a reader
never sees half a file and a re-run of the same day replaces it with identical bytes.
"""

from __future__ import annotations

import os
import tempfile
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


def partition_path(lake: Path, source: str, table: str, day: date | None = None) -> Path:
    base = lake / "raw" / source / table
    return (base / f"date={day.isoformat()}" if day else base) / "part-0.parquet"


def write_table(frame: pd.DataFrame, target: Path) -> Path:
    """Write `frame` to `target` atomically; the same frame always gives the same bytes."""
    target.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
    handle, scratch = tempfile.mkstemp(prefix=".part-", suffix=".tmp", dir=target.parent)
    os.close(handle)
    try:
        pq.write_table(table, scratch, compression="zstd")
        os.replace(scratch, target)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise
    return target
