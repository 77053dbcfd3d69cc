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
from jaffle_contract import contracts
from jaffle_contract.datasets import PUBLISHED_MODE

# The declarations in this package's datasets.toml are the one home of both datasets' columns.
DECLARATIONS = contracts.load_installed("ml", __package__ or "jaffle_ml")
FORECAST = DECLARATIONS.produced("ml.revenue_forecast")
METRICS = DECLARATIONS.produced("ml.forecast_metrics")


def contract(dataset: contracts.Produced) -> dict:
    """The `_schema.json` document written beside the partitions."""
    return {
        "dataset": dataset.name,
        "files": f"{dataset.partition_by}=YYYY-MM-DD/part-0.parquet",
        "primary_key": list(dataset.key),
        "columns": [
            {"name": c.name, "type": str(contracts.arrow_type(c.type, pa)), "nullable": c.nullable}
            for c in dataset.columns
        ],
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


def validate(frame: pd.DataFrame, dataset: contracts.Produced, as_of: date) -> pd.DataFrame:
    """The partition's rows (with their as-of date) if they keep the declaration (columns, nulls,
    floors and types); else ContractError naming what broke. Columns the model adds beyond the
    declaration are not written."""
    frame = frame.assign(as_of=as_of)
    contracts.validate_frame(dataset, frame[[c.name for c in dataset.columns if c.name in frame.columns]])
    schema = contracts.arrow_schema(dataset, pa)
    try:
        pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise contracts.ContractError(f"{dataset.name} breaks its declared types: {error}") from error
    return frame


def write(
    frame: pd.DataFrame, folder: Path, dataset: contracts.Produced, as_of: date, stores: list[str] | None
) -> Path:
    """Write one as-of partition; with `stores`, keep the other stores' rows already there.

    The partition is checked against the declaration first: a missing, undeclared, null or
    out-of-range column raises ContractError naming it, and nothing is written."""
    frame = validate(frame, dataset, as_of)
    schema = contracts.arrow_schema(dataset, pa)
    table = pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)
    _atomic(folder / "_schema.json", lambda p: Path(p).write_text(json.dumps(contract(dataset), indent=2)))
    target = folder / f"as_of={as_of.isoformat()}" / "part-0.parquet"
    if stores and target.exists():
        kept = pq.read_table(target).to_pandas()
        frame = pd.concat([kept[~kept["location_id"].isin(stores)], frame], ignore_index=True)
        table = pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)
    table = table.sort_by([(k, "ascending") for k in dataset.key])
    _atomic(target, lambda p: pq.write_table(table.replace_schema_metadata(None), p, compression="zstd"))
    return target
