from __future__ import annotations

import json
from datetime import date

import pandas as pd
import pyarrow.dataset as ds
import pytest
from jaffle_ingestion.flows import raw_data_jaffle_shop, raw_data_marketing
from jaffle_ingestion.landing import LandingUnavailable, TooManyBadRows, UnreadableFiles
from prefect.artifacts import Artifact

pytestmark = pytest.mark.usefixtures("prefect_api")


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("JAFFLE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("JAFFLE_ORDERS_PER_DAY", "200")
    monkeypatch.setenv("JAFFLE_MAX_BAD_ROW_RATIO", "0.25")
    return tmp_path


def _bytes(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*.parquet"))}


def _artifact(key):
    data = Artifact.get(key).data
    return json.loads(data) if isinstance(data, str) else data


def _rows(path):
    return ds.dataset(path, partitioning="hive").count_rows() if path.exists() else 0


def test_jaffle_shop_lands_every_table_with_its_schema_and_reruns_are_identical(data_dir):
    result = raw_data_jaffle_shop(date(2020, 3, 1), date(2020, 3, 3))
    lake = data_dir / "lake" / "raw" / "jaffle_shop"
    tables = ["customers", "order_items", "orders", "products", "stores", "supplies", "tweets"]
    assert sorted(p.name for p in lake.iterdir()) == tables
    assert all((lake / t / "_schema.json").exists() for t in tables)
    assert sorted(p.name for p in (lake / "orders").iterdir()) == [
        "_schema.json",
        "date=2020-03-01",
        "date=2020-03-02",
        "date=2020-03-03",
    ]
    assert _rows(lake / "orders") == result["rows"]["orders"] > 0
    first = _bytes(data_dir)
    again = raw_data_jaffle_shop(date(2020, 3, 1), date(2020, 3, 3))
    assert _bytes(data_dir) == first
    assert again["rows"] == result["rows"]
    assert not list(data_dir.rglob("*.tmp"))


def test_marketing_lands_spend_and_sessions(data_dir):
    result = raw_data_marketing(date(2020, 3, 1), date(2020, 3, 1))
    spend = pd.read_parquet(data_dir / "lake" / "raw" / "marketing" / "ad_spend")
    sessions = pd.read_parquet(data_dir / "lake" / "raw" / "marketing" / "web_sessions")
    assert len(spend) == result["rows"]["ad_spend"] >= 4
    assert {"session_id", "channel", "utm_source", "utm_campaign", "customer_id"} <= set(sessions.columns)
    assert result["runtime"]["pandas"] == pd.__version__


def test_end_before_start_is_rejected_before_writing(data_dir):
    with pytest.raises(ValueError, match="end_date 2020-03-01 is before start_date 2020-03-05"):
        raw_data_jaffle_shop(date(2020, 3, 5), date(2020, 3, 1))
    assert not (data_dir / "lake").exists()


def test_a_range_over_the_maximum_is_rejected_before_writing(data_dir, monkeypatch):
    monkeypatch.setenv("JAFFLE_MAX_DAYS", "31")
    with pytest.raises(ValueError, match="is 32 days, more than the 31 one run may land"):
        raw_data_marketing(date(2020, 3, 1), date(2020, 4, 1))
    assert not (data_dir / "lake").exists()


# --- the landing folder ---------------------------------------------------------------------------


def _drop(data_dir, source, table, name, frame):
    folder = data_dir / "landing" / source / table
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if name.endswith(".csv"):
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


STORES = pd.DataFrame(
    {
        "store_id": ["s1", "s2"],
        "store_name": ["Lisbon", "Porto"],
        "opened_at": ["2019-01-01 08:00", "2019-06-01 08:00"],
        "tax_rate": [0.23, 0.23],
    }
)


def _orders(n, day="2024-03-03", start=0):
    return pd.DataFrame(
        {
            "order_id": [f"o{start + i}" for i in range(n)],
            "store_id": ["s1" if i % 2 else "s2" for i in range(n)],
            "customer_id": [f"c{i % 7}" for i in range(n)],
            "ordered_at": [f"{day} {10 + i % 10}:00:00" for i in range(n)],
            "session_id": [None] * n,
            "subtotal": [1000 + i for i in range(n)],
            "tax_paid": [230] * n,
            "order_total": [1230 + i for i in range(n)],
        }
    )


def test_landing_files_are_ingested_and_bad_rows_quarantined_with_reasons(data_dir):
    _drop(data_dir, "jaffle_shop", "stores", "stores.csv", STORES)
    good = _orders(20)
    bad = _orders(2, start=100)
    bad.loc[0, "store_id"] = "s9"
    bad.loc[1, "subtotal"] = -5
    _drop(data_dir, "jaffle_shop", "orders", "march.csv", pd.concat([good, bad]))
    _drop(data_dir, "jaffle_shop", "orders", "more.parquet", _orders(5, day="2024-03-04", start=200))

    result = raw_data_jaffle_shop(date(2024, 3, 3), date(2024, 3, 4), ingest_from="landing")

    assert result["rows"]["orders"] == 25 and result["quarantined"]["orders"] == 2
    lake = data_dir / "lake"
    orders = pd.read_parquet(lake / "raw/jaffle_shop/orders/date=2024-03-03/part-0.parquet")
    assert sorted(orders["order_id"]) == sorted(good["order_id"])
    quarantined = pd.read_parquet(lake / "quarantine/jaffle_shop/orders/date=2024-03-03/part-0.parquet")
    assert dict(zip(quarantined["order_id"], quarantined["_reason"], strict=True)) == {
        "o100": "store_id 's9' is not a known store",
        "o101": "subtotal -5 is below 0",
    }
    assert quarantined["_source_file"].str.endswith("march.csv").all()
    assert _rows(lake / "raw/jaffle_shop/orders/date=2024-03-04") == 5
    report = {row["dataset"]: row for row in _artifact("landed-jaffle-shop")}
    assert report["jaffle_shop.orders"]["rows landed"] == 25
    assert report["jaffle_shop.orders"]["rows quarantined"] == 2
    assert "1x store_id is not a known store" in report["jaffle_shop.orders"]["top reasons"]
    # Tables without landing files were left alone; the files stay in the landing folder.
    assert not list((lake / "raw/jaffle_shop/customers").glob("date=*"))
    assert (data_dir / "landing/jaffle_shop/orders/march.csv").exists()

    # Fixing the file and re-running replaces the partition and clears its quarantine.
    _drop(data_dir, "jaffle_shop", "orders", "march.csv", good)
    raw_data_jaffle_shop(date(2024, 3, 3), date(2024, 3, 4), ingest_from="landing")
    assert not (lake / "quarantine/jaffle_shop/orders/date=2024-03-03").exists()
    assert _rows(lake / "raw/jaffle_shop/orders") == 25


def test_too_many_bad_rows_fail_the_run_and_keep_the_landed_partition(data_dir):
    _drop(data_dir, "jaffle_shop", "stores", "stores.csv", STORES)
    path = _drop(data_dir, "jaffle_shop", "orders", "day.csv", _orders(10))
    raw_data_jaffle_shop(date(2024, 3, 3), date(2024, 3, 3), ingest_from="landing")
    landed = data_dir / "lake/raw/jaffle_shop/orders/date=2024-03-03/part-0.parquet"
    before = landed.read_bytes()

    worse = _orders(10)
    worse.loc[:4, "ordered_at"] = "2024-03-03 25:99"
    worse.to_csv(path, index=False)
    named = r"jaffle_shop.orders 5 of 10.*jaffle_shop.orders 2024-03-03"
    named += r".*jaffle_shop.orders: ordered_at is not a valid \S+ \(5\)"
    with pytest.raises(TooManyBadRows, match=named):  # the column named, as the declaration has it
        raw_data_jaffle_shop(date(2024, 3, 3), date(2024, 3, 3), ingest_from="landing")
    assert landed.read_bytes() == before
    undated = pd.read_parquet(data_dir / "lake/quarantine/jaffle_shop/orders/date=undated")
    assert len(undated) == 5
    assert undated["_reason"].str.contains("ordered_at '2024-03-03 25:99' is not a valid").all()


def _truncated_parquet() -> bytes:
    """A real Parquet file of ad spend cut short, as a copy interrupted mid-file leaves it."""
    import io

    out = io.BytesIO()
    pd.DataFrame({"spend_date": ["2024-03-03"] * 50, "channel": ["email"] * 50}).to_parquet(out)
    return out.getvalue()[: len(out.getvalue()) // 2]


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("broken.parquet", b"PAR1 this is not parquet", "ArrowInvalid"),
        ("truncated.parquet", _truncated_parquet(), "ArrowInvalid"),
        ("wrong.csv", b"id,amount\n1,2\n", "missing column(s) spend_date, channel"),
        ("latin1.csv", "spend_date,channel\n2024-03-03,caf\xe9\n".encode("latin-1"), "UnicodeDecodeError"),
        ("spend.json", b'[{"spend_date": "2024-03-03"}]', "not a .csv or .parquet file"),
    ],
)
def test_an_unreadable_file_fails_the_run_by_name_and_is_moved_aside(data_dir, name, content, problem):
    raw_data_marketing(date(2024, 3, 3), date(2024, 3, 3))  # synthetic data already landed
    before = _bytes(data_dir / "lake")
    folder = data_dir / "landing/marketing/ad_spend"
    folder.mkdir(parents=True)
    (folder / name).write_bytes(content)

    with pytest.raises(UnreadableFiles) as failure:
        raw_data_marketing(date(2024, 3, 3), date(2024, 3, 3), ingest_from="landing")

    assert name in str(failure.value) and problem in str(failure.value)
    assert _bytes(data_dir / "lake") == before
    assert not (folder / name).exists()
    rejected = data_dir / "landing/_rejected/marketing/ad_spend"
    assert (rejected / name).read_bytes() == content
    assert problem in (rejected / f"{name}.reason.txt").read_text()


def test_a_file_covering_part_of_the_window_replaces_only_its_days(data_dir):
    raw_data_jaffle_shop(date(2024, 3, 2), date(2024, 3, 4))  # synthetic days already landed
    orders = data_dir / "lake/raw/jaffle_shop/orders"
    before = {d: _rows(orders / f"date={d}") for d in ("2024-03-02", "2024-03-03", "2024-03-04")}
    kept = {d: (orders / f"date={d}/part-0.parquet").read_bytes() for d in ("2024-03-02", "2024-03-04")}
    _drop(data_dir, "jaffle_shop", "stores", "stores.csv", STORES)
    _drop(data_dir, "jaffle_shop", "orders", "one-day.csv", _orders(7, day="2024-03-03"))

    raw_data_jaffle_shop(date(2024, 3, 2), date(2024, 3, 4), ingest_from="landing")

    assert all(n > 0 for n in before.values())
    assert _rows(orders / "date=2024-03-03") == 7  # the day the file covers was replaced
    for day, content in kept.items():  # the days it does not cover kept every row, byte for byte
        assert (orders / f"date={day}/part-0.parquet").read_bytes() == content
    report = {row["dataset"]: row for row in _artifact("landed-jaffle-shop")}
    assert report["jaffle_shop.orders"]["days without input (kept)"] == 2


def test_a_file_the_run_cannot_fetch_fails_the_run_and_stays_for_the_next(data_dir):
    raw_data_marketing(date(2024, 3, 3), date(2024, 3, 3))
    before = _bytes(data_dir / "lake")
    folder = data_dir / "landing/marketing/ad_spend"
    folder.mkdir(parents=True)
    # An I/O error from the kernel on read (even for root): the file's content is not the problem.
    (folder / "spend.csv").symlink_to("/proc/self/mem")

    with pytest.raises(LandingUnavailable, match=r"(?s)left where it is.*spend.csv: OSError"):
        raw_data_marketing(date(2024, 3, 3), date(2024, 3, 3), ingest_from="landing")

    assert (folder / "spend.csv").is_symlink()  # not moved aside
    assert not (data_dir / "landing/_rejected").exists()
    assert _bytes(data_dir / "lake") == before


def test_own_files_after_the_demo_keep_the_demos_stores_and_say_the_shops_are_mixed(data_dir, caplog):
    # The README's order: the demo lands the synthetic shop, then a user lands their own export into the
    # same data folder. The demo's orders refer to the demo's stores: those stay, beside the export's.
    raw_data_jaffle_shop(date(2024, 3, 1), date(2024, 3, 1))
    stores = data_dir / "lake/raw/jaffle_shop/stores/part-0.parquet"
    demo = set(pd.read_parquet(stores)["store_id"])
    demo_orders = pd.read_parquet(data_dir / "lake/raw/jaffle_shop/orders/date=2024-03-01/part-0.parquet")
    assert set(demo_orders["store_id"]) <= demo and not demo & set(STORES["store_id"])

    _drop(data_dir, "jaffle_shop", "stores", "stores.csv", STORES)
    _drop(data_dir, "jaffle_shop", "orders", "march.csv", _orders(10))
    result = raw_data_jaffle_shop(date(2024, 3, 3), date(2024, 3, 3), ingest_from="landing")

    assert result["rows"]["stores"] == 2 and result["rows"]["orders"] == 10
    now = pd.read_parquet(stores)
    assert set(now["store_id"]) == demo | {"s1", "s2"} and now["store_id"].is_unique  # every reference holds
    report = {row["dataset"]: row for row in _artifact("landed-jaffle-shop")}
    assert report["jaffle_shop.stores"]["rows kept from earlier landings"] == len(demo)
    said = [
        r.getMessage() for r in caplog.records if "rows of entities these files do not list" in r.getMessage()
    ]
    assert said and "data folder of its own" in said[0], said

    # A store the export lists again is replaced by its new row, not doubled.
    renamed = STORES.assign(store_name=["Lisboa", "Porto"])
    _drop(data_dir, "jaffle_shop", "stores", "stores.csv", renamed)
    raw_data_jaffle_shop(date(2024, 3, 3), date(2024, 3, 3), ingest_from="landing")
    again = pd.read_parquet(stores).set_index("store_id")
    assert len(again) == len(demo) + 2 and again.loc["s1", "store_name"] == "Lisboa"
