"""The days a folder of landing files spans, for `./dev land` without dates.

A file's days are read from the columns the ingestion team partitions its source's datasets by, as its
declarations name them (`datasets.toml`: `ordered_at`, `first_seen_at`, `tweeted_at`, ...); the
canonical exports name their dated columns the same way. Files with none of them (stores, products)
span no day.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from jaffle_contract import contracts
from jaffle_contract.window import Window

from jaffle_ops.errors import PlatformError

READERS = {".csv": "read_csv", ".parquet": "read_parquet"}


def date_columns(root: Path, source: str) -> set[str]:
    """The columns deciding a row's day, in the datasets landed for `source` (raw.<source>.*)."""
    produced = contracts.producers(contracts.load_all(root))
    prefix = f"raw.{source}."
    return {d.partition_by for name, (_, d) in produced.items() if name.startswith(prefix) and d.partition_by}


def span(files: list[Path], columns: set[str]) -> Window:
    """The first and last day any of `files` holds in one of `columns`; a clear error when none does."""
    import duckdb

    days: list[date] = []
    with duckdb.connect() as con:
        for path in files:
            reader = READERS[path.suffix]
            try:
                present = [
                    c[0] for c in con.execute(f"select * from {reader}(?) limit 0", [str(path)]).description
                ]
                for column in sorted(columns & set(present)):
                    low, high = con.execute(
                        f'select min("{column}")::date, max("{column}")::date from {reader}(?)', [str(path)]
                    ).fetchone() or (None, None)
                    days += [day for day in (low, high) if day is not None]
            except duckdb.Error as error:
                raise PlatformError(f"{path} cannot be read for its dates: {error}") from None
    if not days:
        raise PlatformError(
            f"none of the files has a dated column ({', '.join(sorted(columns))}): name the window with "
            "--start and --end"
        )
    return Window(min(days), max(days))
