"""The ML team's datasets in the lake: declared schemas, atomic and idempotent writes.

    lake/ml/revenue_forecast/_schema.json, as_of=YYYY-MM-DD/part-0.parquet
    lake/ml/forecast_metrics/_schema.json, as_of=YYYY-MM-DD/part-0.parquet

Both live under the platform's data root (a folder or an object store: jaffle_contract.storage). A
partition is written atomically (a hidden temporary file renamed over its target; an object appears
whole). Re-running an as-of date replaces its partition; a run for some stores replaces only those
stores' rows in it.
"""

from __future__ import annotations

import io
import json
from datetime import date

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from jaffle_contract import contracts
from jaffle_contract.datasets import PUBLISHED_MODE
from jaffle_contract.storage import Storage

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
    frame: pd.DataFrame, storage: Storage, dataset: contracts.Produced, as_of: date, stores: list[str] | None
) -> str:
    """Write one as-of partition at the dataset's declared location under the data root; with `stores`,
    keep the other stores' rows already there. Returns where it was written.

    The partition is checked against the declaration first: a missing, undeclared, null or
    out-of-range column raises ContractError naming it, and nothing is written."""
    frame = validate(frame, dataset, as_of)
    schema = contracts.arrow_schema(dataset, pa)
    table = pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)
    document = json.dumps(contract(dataset), indent=2).encode()
    storage.write_bytes(document, dataset.location, "_schema.json", mode=PUBLISHED_MODE)
    target = (dataset.location, f"as_of={as_of.isoformat()}", "part-0.parquet")
    if stores and storage.exists(*target):
        kept = pq.read_table(io.BytesIO(storage.read_bytes(*target))).to_pandas()
        frame = pd.concat([kept[~kept["location_id"].isin(stores)], frame], ignore_index=True)
        table = pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)
    table = table.sort_by([(k, "ascending") for k in dataset.key])
    buffer = io.BytesIO()
    pq.write_table(table.replace_schema_metadata(None), buffer, compression="zstd")
    storage.write_bytes(buffer.getvalue(), *target, mode=PUBLISHED_MODE)  # other teams read forecasts
    return storage.uri(*target)
