"""The declared schema of every raw dataset (from `datasets.toml`): the contract other teams read.

Each dataset is written to `<lake>/raw/<source>/<table>/` with its schema beside the data in
`_schema.json` (column types, nullability, smallest allowed value, references, primary key and
partitioning), so the dbt and ML teams can rely on it without importing this package.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pyarrow as pa
from jaffle_contract import contracts, deployments


@dataclass(frozen=True)
class Column:
    """One column: its Arrow type, whether it may be null, its floor, what it references."""

    name: str
    type: pa.DataType
    nullable: bool = True
    min: float | None = None
    references: str | None = None  # "<source>.<table>.<column>"
    description: str = ""


@dataclass(frozen=True)
class Dataset:
    """A raw table: its columns, primary key and the timestamp that decides its daily partition."""

    source: str
    table: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    partition_by: str | None = None  # None: a reference table written whole
    description: str = ""

    @property
    def name(self) -> str:
        return f"{self.source}.{self.table}"

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.type, nullable=c.nullable) for c in self.columns])

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        """The declared column `name` (a KeyError naming the dataset if it has none)."""
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"{self.name} declares no column {name!r}")

    def contract(self) -> dict:
        """The JSON document written beside the data."""
        return {
            "dataset": self.name,
            "description": self.description,
            "path": f"raw/{self.source}/{self.table}",
            "files": "date=YYYY-MM-DD/part-0.parquet" if self.partition_by else "part-0.parquet",
            "partitioned_by": (
                {"column": "date", "from": self.partition_by, "format": "YYYY-MM-DD"}
                if self.partition_by
                else None
            ),
            "primary_key": list(self.key),
            "columns": [
                {
                    "name": c.name,
                    "type": str(c.type),
                    "nullable": c.nullable,
                    **({"min": c.min} if c.min is not None else {}),
                    **({"references": c.references} if c.references else {}),
                    **({"description": c.description} if c.description else {}),
                }
                for c in self.columns
            ],
        }

    def contract_json(self) -> bytes:
        return (json.dumps(self.contract(), indent=2, sort_keys=False) + "\n").encode()


# The declarations in this package's datasets.toml are the one home of every column; the Arrow
# schemas, the quality checks and the `_schema.json` documents are made from them.
ZONE = "raw"  # declared names are "raw.<source>.<table>"
DECLARATIONS = contracts.load_installed(__package__ or "jaffle_ingestion")


def _dataset(declared: contracts.Produced) -> Dataset:
    zone, source, table = declared.name.split(".")
    if zone != ZONE:
        raise contracts.ContractError(f"{declared.name}: name it {ZONE}.<source>.<table>")
    columns = tuple(
        Column(
            c.name,
            contracts.arrow_type(c.type, pa),
            nullable=c.nullable,
            min=c.min,
            references=c.references.removeprefix(f"{ZONE}.") if c.references else None,
            description=c.description,
        )
        for c in declared.columns
    )
    return Dataset(source, table, columns, declared.key, declared.partition_by, declared.description)


DATASETS: dict[str, Dataset] = {d.name: d for d in map(_dataset, DECLARATIONS.produces)}
SOURCES = tuple(deployments.INGESTED)


def datasets_of(source: str) -> list[Dataset]:
    """The datasets one source lands, reference tables first."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; expected one of {', '.join(SOURCES)}")
    found = [d for d in DATASETS.values() if d.source == source]
    return sorted(found, key=lambda d: d.partition_by is not None)
