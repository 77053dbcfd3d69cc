"""Load the raw lake into PostgreSQL for the `postgres` target (no Prefect here).

On DuckDB, dbt reads the Parquet lake in place. PostgreSQL cannot, so before a `postgres` build the
raw datasets are copied into schemas `raw_<source>`: reference tables whole, daily tables for the
run's window only (delete those days, then COPY them in), or everything on a full refresh or when a
table does not exist yet. DuckDB reads the Parquet into a CSV file and psycopg2 streams it with COPY,
one transaction per table, so a failed load leaves the previous rows in place.
"""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass
from datetime import date

import duckdb
import psycopg2
from jaffle_data.storage import Storage
from psycopg2 import sql

from jaffle_dbt_transform import sources as dbt_sources

PG_TYPES = {
    "VARCHAR": "text",
    "BIGINT": "bigint",
    "INTEGER": "bigint",
    "DOUBLE": "double precision",
    "FLOAT": "double precision",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP_NS": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
}


@dataclass(frozen=True)
class Loaded:
    table: str
    rows: int
    days: str  # "all" or "YYYY-MM-DD..YYYY-MM-DD"


def _pg_type(duck: str) -> str:
    if duck.startswith("DECIMAL"):
        return "numeric"
    if duck not in PG_TYPES:
        raise TypeError(f"no PostgreSQL type for DuckDB type {duck}")
    return PG_TYPES[duck]


def load(
    storage: Storage,
    dsn: str,
    start: date,
    end: date,
    full_refresh: bool,
    sources: tuple[str, ...] = tuple(dbt_sources.SOURCES),
) -> list[Loaded]:
    """Copy the window's raw partitions (or all of them) into PostgreSQL, the columns dbt declares it
    reads (a table is daily when its folder holds date=YYYY-MM-DD partitions); returns rows per table."""
    loaded, read = [], dbt_sources.consumed()
    unknown = [source for source in sources if source not in read]
    if unknown:
        raise ValueError(f"no raw source {', '.join(map(repr, unknown))}; dbt reads {', '.join(read)}")
    with contextlib.closing(psycopg2.connect(dsn)) as pg:
        for source in sources:
            with pg.cursor() as cur:
                cur.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(f"raw_{source}")))
            pg.commit()
            for table, columns in read[source].items():
                folder = f"lake/raw/{source}/{table}"
                if storage.exists(folder):
                    try:
                        loaded.append(
                            _load_table(
                                pg, storage, folder, source, (table, columns), start, end, full_refresh
                            )
                        )
                        pg.commit()
                    except BaseException:
                        pg.rollback()
                        raise
    return loaded


def _load_table(
    pg,
    storage: Storage,
    folder: str,
    source: str,
    read: tuple[str, list[str]],
    start: date,
    end: date,
    full: bool,
) -> Loaded:
    table, wanted = read
    daily = bool(storage.glob(folder, "date=*"))
    pattern = storage.uri(folder, "*/*.parquet" if daily else "*.parquet")
    target = sql.Identifier(f"raw_{source}", table)
    with pg.cursor() as cur:
        cur.execute("select to_regclass(%s)", (f"raw_{source}.{table}",))
        exists = cur.fetchone()[0] is not None
    whole = full or not exists or not daily
    with duckdb.connect() as duck:
        storage.register(duck)
        listed = ", ".join(f'"{column}"' for column in wanted)
        hive = str(daily).lower()
        partition = ', "date"' if daily else ""
        relation = duck.sql(
            f"select {listed}{partition} from read_parquet('{pattern}', hive_partitioning = {hive})"
        )
        if daily:
            relation = relation.project(f'{listed}, cast("date" as date) as _partition_date')
            if not whole:
                relation = relation.filter(f"_partition_date between date '{start}' and date '{end}'")
        columns = [(n, _pg_type(str(k))) for n, k in zip(relation.columns, relation.types, strict=True)]
        rows = relation.count("*").fetchone()[0]
        scratch = tempfile.NamedTemporaryFile(suffix=".csv")  # noqa: SIM115 - closed below
        relation.write_csv(scratch.name, header=False, na_rep="\\N")
    with scratch, open(scratch.name) as buffer, pg.cursor() as cur:
        # Truncate rather than drop, and add a column declared since the table was made rather than
        # make it again: dbt's staging views depend on these tables.
        cur.execute(
            sql.SQL("create table if not exists {} ({})").format(
                target,
                sql.SQL(", ").join(
                    sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t)) for n, t in columns
                ),
            )
        )
        for n, t in columns:
            cur.execute(
                sql.SQL("alter table {} add column if not exists {} {}").format(
                    target, sql.Identifier(n), sql.SQL(t)
                )
            )
        if whole:
            cur.execute(sql.SQL("truncate {}").format(target))
        else:
            cur.execute(
                sql.SQL("delete from {} where _partition_date between %s and %s").format(target), (start, end)
            )
        cur.copy_expert(
            sql.SQL("copy {} ({}) from stdin with (format csv, null '\\N')").format(
                target, sql.SQL(", ").join(sql.Identifier(n) for n, _ in columns)
            ),
            buffer,
        )
    return Loaded(f"raw_{source}.{table}", rows, "all" if whole else f"{start}..{end}")
