"""The ML team's datasets in the lake: declared schemas, atomic and idempotent writes.

    lake/ml/revenue_forecast/_schema.json, as_of=YYYY-MM-DD/part-0.parquet
    lake/ml/forecast_metrics/_schema.json, as_of=YYYY-MM-DD/part-0.parquet

Both live under the platform's data root (a folder or an object store: jaffle_data.storage). A
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
import pyarrow.compute as pc
import pyarrow.parquet as pq
from jaffle_contract import contracts
from jaffle_contract.datasets import PUBLISHED_MODE
from jaffle_data.storage import Storage

# The declarations in this package's datasets.toml are the one home of both datasets' columns.
DECLARATIONS = contracts.load_installed(__package__ or "jaffle_ml_forecast")
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


def validate(frame: pd.DataFrame, dataset: contracts.Produced, as_of: date) -> pa.Table:
    """The partition's rows (with their as-of date) as the declared Arrow table, if they keep the
    declaration (columns, nulls, floors and types); else ContractError naming what broke. Columns the
    model adds beyond the declaration are left out."""
    frame = frame.assign(as_of=as_of)
    contracts.validate_frame(dataset, frame[[c.name for c in dataset.columns if c.name in frame.columns]])
    schema = contracts.arrow_schema(dataset, pa)
    try:
        return pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise contracts.ContractError(f"{dataset.name} breaks its declared types: {error}") from error


def write(
    table: pa.Table, storage: Storage, dataset: contracts.Produced, as_of: date, stores: list[str] | None
) -> str:
    """Write one as-of partition, a table `validate` made, at the dataset's declared location under the
    data root; with `stores`, keep the other stores' rows already there. Returns where it was written."""
    document = json.dumps(contract(dataset), indent=2).encode()
    storage.write_bytes(document, dataset.location, "_schema.json", mode=PUBLISHED_MODE)
    target = (dataset.location, f"as_of={as_of.isoformat()}", "part-0.parquet")
    if stores and storage.exists(*target):
        kept = pq.read_table(io.BytesIO(storage.read_bytes(*target)), columns=table.schema.names)
        others = pc.invert(
            pc.is_in(kept["location_id"], value_set=pa.array(stores, kept["location_id"].type))
        )
        table = pa.concat_tables([kept.filter(others).cast(table.schema), table])
    table = table.sort_by([(k, "ascending") for k in dataset.key])
    buffer = io.BytesIO()
    pq.write_table(table.replace_schema_metadata(None), buffer, compression="zstd")
    storage.write_bytes(buffer.getvalue(), *target, mode=PUBLISHED_MODE)  # other teams read forecasts
    return storage.uri(*target)
