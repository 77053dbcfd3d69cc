from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from jaffle_ingestion.flows import raw_data_jaffle_shop, raw_data_marketing
from prefect.testing.utilities import prefect_test_harness


@pytest.fixture(scope="module", autouse=True)
def prefect_api():
    with prefect_test_harness():
        yield


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("JAFFLE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("JAFFLE_ORDERS_PER_DAY", "40")
    return tmp_path


def _bytes(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*.parquet"))}


def test_jaffle_shop_lands_every_table_and_reruns_are_byte_identical(data_dir):
    result = raw_data_jaffle_shop(date(2020, 3, 1), date(2020, 3, 3))
    lake = data_dir / "lake" / "raw" / "jaffle_shop"
    assert sorted(p.name for p in lake.iterdir()) == [
        "customers",
        "order_items",
        "orders",
        "products",
        "stores",
        "supplies",
    ]
    assert sorted(p.name for p in (lake / "orders").iterdir()) == [
        "date=2020-03-01",
        "date=2020-03-02",
        "date=2020-03-03",
    ]
    orders = pd.read_parquet(lake / "orders")
    assert len(orders) == result["rows"]["orders"] > 0
    first = _bytes(data_dir)
    raw_data_jaffle_shop(date(2020, 3, 2), date(2020, 3, 2))
    assert _bytes(data_dir) == first
    assert not list(data_dir.rglob("*.tmp"))


def test_marketing_lands_spend_and_sessions(data_dir):
    result = raw_data_marketing(date(2020, 3, 1), date(2020, 3, 1))
    spend = pd.read_parquet(data_dir / "lake" / "raw" / "marketing" / "ad_spend")
    sessions = pd.read_parquet(data_dir / "lake" / "raw" / "marketing" / "web_sessions")
    assert len(spend) == result["rows"]["ad_spend"] == 5
    assert {"session_id", "channel", "utm_source", "utm_campaign", "customer_id"} <= set(sessions.columns)
    assert result["runtime"]["pandas"] == pd.__version__


def test_end_before_start_is_rejected_before_writing(data_dir):
    with pytest.raises(ValueError, match="end_date 2020-03-01 is before start_date 2020-03-05"):
        raw_data_jaffle_shop(date(2020, 3, 5), date(2020, 3, 1))
    assert not (data_dir / "lake").exists()
