"""`./dev land` without dates: the days a folder of files spans, read from the dated columns the
ingestion team's declarations name, and landed in runs of at most MAX_RUN_DAYS days."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import duckdb
import pytest
from jaffle_contract.window import MAX_RUN_DAYS, Window
from jaffle_ops import spans
from jaffle_ops.errors import PlatformError

ROOT = Path(__file__).resolve().parents[2]


def _csv(path: Path, sql: str) -> Path:
    duckdb.execute(f"copy ({sql}) to '{path}' (header, delimiter ',')")
    return path


def test_the_dated_columns_are_the_ingestion_teams_partition_columns():
    assert spans.date_columns(ROOT, "jaffle_shop") == {"ordered_at", "first_seen_at", "tweeted_at"}
    assert spans.date_columns(ROOT, "marketing") == {"spend_date", "started_at"}


def test_a_three_year_export_spans_its_first_to_its_last_day_and_lands_in_three_runs(tmp_path):
    # As jafgen writes them: orders dated by ordered_at (timestamps), tweets by tweeted_at, stores by none.
    orders = _csv(
        tmp_path / "raw_orders.csv",
        "select 'o' || i as id, timestamp '2016-09-01 09:07:00' + to_days(i::int) as ordered_at "
        "from range(0, 1095, 7) t(i)",
    )
    tweets = tmp_path / "raw_tweets.parquet"
    duckdb.execute(
        "copy (select 't1' as id, timestamp '2019-08-31 20:00:00' as tweeted_at) "
        f"to '{tweets}' (format parquet)"
    )
    stores = _csv(tmp_path / "raw_stores.csv", "select 's1' as id, 'Philadelphia' as name")
    columns = spans.date_columns(ROOT, "jaffle_shop")
    window = spans.span([orders, tweets, stores], columns)
    assert window == Window(date(2016, 9, 1), date(2019, 8, 31))
    runs = window.chunks(MAX_RUN_DAYS)
    assert len(runs) == 3 and runs[0] == Window(date(2016, 9, 1), date(2017, 9, 1))
    assert [len(r.days) for r in runs] == [366, 366, 363] and sum(len(r.days) for r in runs) == 1095


def test_files_with_no_dated_column_ask_for_the_window():
    with pytest.raises(PlatformError, match=r"none of the files has a dated column .*--start and --end"):
        spans.span([], {"ordered_at"})


def test_a_file_that_cannot_be_read_is_named(tmp_path):
    broken = tmp_path / "raw_orders.parquet"
    broken.write_bytes(b"not parquet")
    with pytest.raises(PlatformError, match=re.escape(f"{broken} cannot be read for its dates")):
        spans.span([broken], {"ordered_at"})
