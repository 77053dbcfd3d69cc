"""dbt's sources of the raw lake, made from the dbt team's declarations (`datasets.toml`).

    hatch run dbt-transform:python -m jaffle_dbt_transform.sources --write   # after a [[consumes]] change

Each raw dataset dbt declares it consumes becomes a source table that shows dbt exactly the columns it
declares, no others: on DuckDB the table is a projection of the lake's Parquet files; on PostgreSQL
`pg_load` copies those columns only. So a model that reads a column the dbt team has not declared
fails its build naming that column, and the contract check (every consumed column is in its
producer's declaration, with a compatible type) covers everything dbt reads. The source files are
written here and committed; a test keeps them equal to what this module makes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml
from jaffle_contract import contracts

from jaffle_dbt_transform.settings import PROJECTS_DIR

RAW = "raw."
# A raw source, the dbt project that reads it, and what the source is.
SOURCES = {
    "jaffle_shop": (
        "jaffle_shop",
        "Operational tables of the Jaffle Shop, landed by the ingestion team in the Parquet lake.",
    ),
    "marketing": (
        "attribution",
        "Marketing sources landed by the ingestion team: ad spend and web sessions.",
    ),
}
HEADER = """\
# Made by jaffle_dbt_transform.sources from the [[consumes]] of the team's datasets.toml: do not edit.
#   hatch run dbt-transform:python -m jaffle_dbt_transform.sources --write
# DuckDB reads the Parquet lake in place, only the declared columns (external_location); PostgreSQL
# reads the copy of those columns that jaffle_dbt_transform.pg_load puts in raw_<source>.
"""


def consumed(declarations: contracts.Declarations | None = None) -> dict[str, dict[str, list[str]]]:
    """Raw source -> table -> the columns dbt declares it reads, in their declared order."""
    declared = declarations or contracts.load_installed("jaffle_dbt_transform")
    tables: dict[str, dict[str, list[str]]] = {}
    for dataset in declared.consumes:
        if dataset.name.startswith(RAW):
            source, _, table = dataset.name.removeprefix(RAW).partition(".")
            if not table:
                raise contracts.ContractError(
                    f"dbt consumes {dataset.name}, which is not {RAW}<source>.<table>"
                )
            if source not in SOURCES:
                raise contracts.ContractError(f"dbt consumes {dataset.name}, of a source no project reads")
            tables.setdefault(source, {})[table] = list(dataset.columns)
    return tables


def path(source: str) -> Path:
    project = SOURCES[source][0]
    return PROJECTS_DIR / project / "models" / "staging" / source / f"_{source}__sources.yml"


def render(source: str, declarations: contracts.Declarations | None = None) -> str:
    """The sources file of a raw source."""
    declared = declarations or contracts.load_installed("jaffle_dbt_transform")
    types = {d.name: d.columns for d in declared.consumes}
    read = consumed(declared)
    if source not in read:
        raise contracts.ContractError(
            f"dbt consumes no {RAW}{source}.<table>: its sources file would be empty"
        )
    tables = []
    for table, columns in read[source].items():
        listed = ", ".join(f'"{column}"' for column in columns)
        files = f"{{{{ env_var('JAFFLE_LAKE_DIR') }}}}/raw/{source}/{table}/**/*.parquet"
        lake = f"read_parquet('{files}', hive_partitioning = false)"
        tables.append(
            {
                "name": table,
                "meta": {"external_location": f"(select {listed} from {lake})"},
                "columns": [
                    {"name": column, "data_type": contracts.SQL[types[f"{RAW}{source}.{table}"][column]]}
                    for column in columns
                ],
            }
        )
    document = {
        "version": 2,
        "sources": [
            {
                "name": source,
                "schema": f"{{{{ 'main' if target.type == 'duckdb' else 'raw_{source}' }}}}",
                "description": SOURCES[source][1],
                "tables": tables,
            }
        ],
    }
    return HEADER + yaml.safe_dump(document, sort_keys=False, width=1 << 16)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m jaffle_dbt_transform.sources", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--write", action="store_true", help="write the files (default: say which differ)")
    args = parser.parse_args(argv)
    stale = []
    for source in SOURCES:
        text = render(source)
        if path(source).read_text() != text:
            stale.append(source)
            if args.write:
                path(source).write_text(text)
    if stale and not args.write:
        print(f"stale: {', '.join(stale)}; run with --write", file=sys.stderr)
        return 1
    print(f"{'wrote' if args.write and stale else 'current'}: {', '.join(stale or SOURCES)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
