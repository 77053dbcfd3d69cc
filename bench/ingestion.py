"""Ingestion throughput: generate, check and land a year of the Jaffle Shop, against a plain write.

    hatch run ingestion:python bench/ingestion.py [--days 365] [--orders-per-day 10000]

For every day of the range and every daily table of both sources it measures, side by side:
- generate:  the synthetic shop's day (all tables, vectorized)
- check:     the schema and constraint checks that split good rows from quarantined ones
- land:      the atomic write (temporary file, fsync, rename) of each partition
- baseline:  a plain `pyarrow.parquet.write_table` of the same table straight to its target,
             no temporary file, no fsync: what the atomic write is compared against
It prints rows/s and MB/s (MB of Parquet written, or in-memory Arrow size for generate and check)
and the ratio of the atomic landing to the plain write.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

import pyarrow.parquet as pq
from jaffle_ingestion import quality, synthetic
from jaffle_ingestion.lake import Lake
from jaffle_ingestion.schemas import datasets_of


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--orders-per-day", type=int, default=10_000)
    parser.add_argument("--stores", type=int, default=6)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2023, 1, 1))
    args = parser.parse_args()
    config = synthetic.ShopConfig(orders_per_day=args.orders_per_day, stores=args.stores)
    known = {"jaffle_shop.stores.store_id": set(synthetic.stores(config)["store_id"])}
    daily = [d for s in ("jaffle_shop", "marketing") for d in datasets_of(s) if d.partition_by]
    seconds: dict[str, float] = defaultdict(float)
    rows: dict[str, int] = defaultdict(int)
    size: dict[str, int] = defaultdict(int)
    orders = 0
    with tempfile.TemporaryDirectory() as scratch:
        lake, plain = Lake(f"{scratch}/lake"), Path(scratch) / "plain"
        for offset in range(args.days):
            day = args.start + timedelta(days=offset)
            began = time.perf_counter()
            generated = synthetic.generate_day(config, day)
            seconds["generate"] += time.perf_counter() - began
            orders += len(generated.orders)
            for dataset in daily:
                frame = generated.table(dataset.table)
                began = time.perf_counter()
                checked = quality.check(frame, dataset, known)
                seconds["check"] += time.perf_counter() - began
                table = checked.good
                for step in ("generate", "check"):
                    rows[step] += table.num_rows
                    size[step] += table.nbytes
                target = lake.partition(dataset, day)
                began = time.perf_counter()
                lake.write(table, target)
                seconds["land"] += time.perf_counter() - began
                base = plain / dataset.source / dataset.table / f"date={day}" / "part-0.parquet"
                base.parent.mkdir(parents=True, exist_ok=True)
                began = time.perf_counter()
                pq.write_table(table, base, compression="zstd")
                seconds["baseline"] += time.perf_counter() - began
                for step, path in (("land", Path(target)), ("baseline", base)):
                    rows[step] += table.num_rows
                    size[step] += path.stat().st_size
    print(
        f"{args.days} days from {args.start} at {args.orders_per_day:,} orders/day "
        f"({orders:,} orders, {rows['land']:,} rows in {len(daily)} daily tables)"
    )
    print(f"{'step':<10}{'seconds':>10}{'rows/s':>14}{'MB/s':>10}{'vs baseline':>13}")
    for step in ("generate", "check", "land", "baseline"):
        took = seconds[step]
        ratio = f"{took / seconds['baseline']:.2f}x" if step in ("land", "baseline") else ""
        print(
            f"{step:<10}{took:>10.1f}{rows[step] / took:>14,.0f}{size[step] / took / 1e6:>10.1f}{ratio:>13}"
        )


if __name__ == "__main__":
    main()
