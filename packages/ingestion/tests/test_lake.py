from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import date

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from jaffle_ingestion import landing, schemas, synthetic
from jaffle_ingestion.lake import Lake, LakeWriteError

CONFIG = synthetic.ShopConfig(seed=11, orders_per_day=300, stores=3)


def _land(lake: Lake, start: date, end: date) -> None:
    for day in synthetic.days(start, end):
        landing.land_synthetic_day(lake, CONFIG, "jaffle_shop", day, 0.0)


def _files(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*.parquet"))}


def test_a_day_is_byte_identical_whatever_range_it_is_landed_in(tmp_path):
    _land(Lake(str(tmp_path / "one")), date(2021, 3, 3), date(2021, 3, 3))
    _land(Lake(str(tmp_path / "many")), date(2021, 2, 1), date(2021, 3, 31))
    day = "date=2021-03-03"
    one = {k: v for k, v in _files(tmp_path / "one").items() if day in str(k)}
    many = {k: v for k, v in _files(tmp_path / "many").items() if day in str(k)}
    assert one and one == many


def test_rerunning_a_range_replaces_partitions_and_never_duplicates(tmp_path):
    lake = Lake(str(tmp_path))
    _land(lake, date(2021, 3, 1), date(2021, 3, 4))
    first = _files(tmp_path)
    count = ds.dataset(tmp_path / "raw/jaffle_shop/orders", partitioning="hive").count_rows()
    _land(lake, date(2021, 3, 2), date(2021, 3, 3))
    assert ds.dataset(tmp_path / "raw/jaffle_shop/orders", partitioning="hive").count_rows() == count
    assert _files(tmp_path) == first
    assert not list(tmp_path.rglob("*.tmp"))


def test_the_lake_is_any_fsspec_url():
    lake = Lake("memory://lake-test")
    landing.write_contracts(lake, "marketing")
    landing.land_synthetic_day(lake, CONFIG, "marketing", date(2021, 3, 3), 0.0)
    target = lake.partition(schemas.DATASETS["marketing.web_sessions"], date(2021, 3, 3))
    assert target == "/lake-test/raw/marketing/web_sessions/date=2021-03-03/part-0.parquet"
    assert lake.read(target).schema == schemas.DATASETS["marketing.web_sessions"].arrow_schema
    contract = json.loads(lake.fs.cat_file("/lake-test/raw/marketing/web_sessions/_schema.json"))
    assert contract["primary_key"] == ["session_id"]


def test_written_partitions_match_their_declared_schema_file(tmp_path):
    lake = Lake(str(tmp_path))
    landing.write_contracts(lake, "jaffle_shop")
    landing.land_synthetic_reference(lake, CONFIG, 0.0)
    _land(lake, date(2021, 3, 3), date(2021, 3, 3))
    for dataset in schemas.datasets_of("jaffle_shop"):
        contract = json.loads((tmp_path / "raw/jaffle_shop" / dataset.table / "_schema.json").read_text())
        written = pq.read_schema(lake.partition(dataset, date(2021, 3, 3) if dataset.partition_by else None))
        assert [(c["name"], c["type"]) for c in contract["columns"]] == [
            (f.name, str(f.type)) for f in written
        ]


WRITER = """
import sys, numpy as np, pyarrow as pa
from jaffle_ingestion.lake import Lake, LakeWriteError
rng = np.random.default_rng(0)
table = pa.table({f"c{i}": rng.random(4_000_000) for i in range(8)})
print("writing", flush=True)
Lake(sys.argv[1]).write(table, sys.argv[2])
print("done", flush=True)
"""


def test_a_writer_killed_mid_partition_leaves_the_previous_version_readable(tmp_path):
    lake = Lake(str(tmp_path))
    target = str(tmp_path / "raw/x/t/date=2021-01-01/part-0.parquet")
    previous = pa.table({"c0": [1.0, 2.0, 3.0]})
    lake.write(previous, target)
    folder = tmp_path / "raw/x/t/date=2021-01-01"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path), target], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout.readline().strip() == "writing"
    deadline = time.monotonic() + 60
    while not list(folder.glob(".part-*.tmp")) and time.monotonic() < deadline:
        time.sleep(0.002)
    assert list(folder.glob(".part-*.tmp")), "the writer never started its temporary file"
    os.kill(writer.pid, signal.SIGKILL)
    assert writer.wait() == -signal.SIGKILL  # killed, not finished
    assert pq.read_table(target).equals(previous)
    # Readers of the partition folder see the previous file only; the leftover is hidden.
    assert ds.dataset(folder).to_table().equals(previous)
    assert [p.name for p in folder.iterdir() if not p.name.startswith(".")] == ["part-0.parquet"]


OVERLAP = """
import sys
from datetime import date
from jaffle_ingestion import landing, synthetic
from jaffle_ingestion.lake import Lake, LakeWriteError
config = synthetic.ShopConfig(seed=11, orders_per_day=300, stores=3)
for rep in range(3):
    for day in synthetic.days(date.fromisoformat(sys.argv[2]), date.fromisoformat(sys.argv[3])):
        landing.land_synthetic_day(Lake(sys.argv[1]), config, "jaffle_shop", day, 0.0)
"""


def test_two_overlapping_runs_at_once_never_corrupt_a_partition(tmp_path):
    shared, serial = tmp_path / "shared", tmp_path / "serial"
    runs = [
        subprocess.Popen([sys.executable, "-c", OVERLAP, str(shared), start, end])
        for start, end in (("2021-03-01", "2021-03-06"), ("2021-03-03", "2021-03-08"))
    ]
    assert [r.wait() for r in runs] == [0, 0]
    _land(Lake(str(serial)), date(2021, 3, 1), date(2021, 3, 8))
    assert _files(shared) == _files(serial)
    assert not list(shared.rglob("*.tmp"))


def test_a_lake_that_cannot_be_written_is_a_clear_error_and_keeps_every_partition(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    _land(lake, date(2024, 3, 1), date(2024, 3, 2))
    before = _files(tmp_path / "lake")
    # A file where the next day's partition folder must go: not writable, whoever runs the flow.
    (tmp_path / "lake/raw/jaffle_shop/orders/date=2024-03-03").write_bytes(b"")
    try:
        _land(lake, date(2024, 3, 3), date(2024, 3, 3))
    except LakeWriteError as error:
        assert "could not write" in str(error) and "date=2024-03-03" in str(error)
        assert "is unchanged" in str(error)
    else:
        raise AssertionError("writing into a file instead of a folder did not fail")
    after = _files(tmp_path / "lake")
    assert {path: after.get(path) for path in before} == before  # every earlier partition, byte for byte
    assert not list((tmp_path / "lake").rglob("*.tmp"))
