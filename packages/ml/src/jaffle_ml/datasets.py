"""The ML team's datasets in the lake: declared schemas, atomic and idempotent writes.

    lake/ml/revenue_forecast/_schema.json, as_of=YYYY-MM-DD/part-0.parquet
    lake/ml/forecast_metrics/_schema.json, as_of=YYYY-MM-DD/part-0.parquet

A partition is written to a hidden temporary file and renamed over its target. Re-running an as-of
date replaces its partition; a run for some stores replaces only those stores' rows in it.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from jaffle_contract.datasets import PUBLISHED_MODE

FORECAST = pa.schema(
    [
        pa.field("location_id", pa.string(), nullable=False),
        pa.field("forecast_date", pa.date32(), nullable=False),
        pa.field("model_name", pa.string(), nullable=False),
        pa.field("revenue_forecast", pa.float64(), nullable=False),
        pa.field("revenue_lo_80", pa.float64(), nullable=False),
        pa.field("revenue_hi_80", pa.float64(), nullable=False),
        pa.field("revenue_lo_95", pa.float64(), nullable=False),
        pa.field("revenue_hi_95", pa.float64(), nullable=False),
        pa.field("as_of", pa.date32(), nullable=False),
    ]
)
METRICS = pa.schema(
    [
        pa.field("location_id", pa.string(), nullable=False),
        pa.field("model_name", pa.string(), nullable=False),
        pa.field("mase", pa.float64()),
        pa.field("smape", pa.float64()),
        pa.field("backtest_windows", pa.int64(), nullable=False),
        pa.field("backtest_horizon_days", pa.int64(), nullable=False),
        pa.field("history_days", pa.int64(), nullable=False),
        pa.field("chosen", pa.bool_(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("as_of", pa.date32(), nullable=False),
    ]
)
KEYS = {
    "revenue_forecast": ["location_id", "forecast_date"],
    "forecast_metrics": ["location_id", "model_name"],
}


def contract(name: str, schema: pa.Schema) -> dict:
    return {
        "dataset": f"ml.{name}",
        "files": "as_of=YYYY-MM-DD/part-0.parquet",
        "primary_key": ["as_of", *KEYS[name]],
        "columns": [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema],
    }


def _atomic(target: Path, write) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, scratch = tempfile.mkstemp(prefix=f".{target.name}-", suffix=".tmp", dir=target.parent)
    os.close(handle)
    try:
        write(scratch)
        os.chmod(scratch, PUBLISHED_MODE)  # mkstemp made it 0600: forecasts are read by other teams
        os.replace(scratch, target)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise


def write(
    frame: pd.DataFrame, folder: Path, schema: pa.Schema, as_of: date, stores: list[str] | None
) -> Path:
    """Write one as-of partition; with `stores`, keep the other stores' rows already there."""
    name = folder.name
    _atomic(
        folder / "_schema.json", lambda p: Path(p).write_text(json.dumps(contract(name, schema), indent=2))
    )
    target = folder / f"as_of={as_of.isoformat()}" / "part-0.parquet"
    frame = frame.assign(as_of=as_of)
    if stores and target.exists():
        kept = pd.read_parquet(target)
        frame = pd.concat([kept[~kept["location_id"].isin(stores)], frame], ignore_index=True)
    frame = frame.sort_values(KEYS[name], ignore_index=True)
    table = pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)
    _atomic(target, lambda p: pq.write_table(table.replace_schema_metadata(None), p, compression="zstd"))
    return target
