from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest
from jaffle_ingestion import quality, schemas

KNOWN = {"jaffle_shop.stores.store_id": {"store-001", "store-002"}}


ORDERS = schemas.DATASETS["jaffle_shop.orders"]


def _orders(**changes):
    rows = {
        "order_id": ["o1", "o2", "o3", "o4", "o5", "o6"],
        "store_id": ["store-001"] * 6,
        "customer_id": ["c1"] * 6,
        "ordered_at": ["2024-03-03 10:00:00"] * 6,
        "session_id": [None] * 6,
        "subtotal": ["100"] * 6,
        "tax_paid": ["7"] * 6,
        "order_total": ["107"] * 6,
    }
    for column, (index, value) in changes.items():
        rows[column][index] = value
    return pd.DataFrame(rows)


def test_good_rows_get_the_declared_types():
    checked = quality.check(_orders(), ORDERS, KNOWN)
    assert checked.good.num_rows == 6 and checked.bad.empty
    assert checked.good.schema == ORDERS.arrow_schema
    assert checked.good.column("subtotal").to_pylist() == [100] * 6


def test_each_kind_of_bad_row_is_quarantined_with_its_reason():
    frame = _orders(
        order_id=(0, None),
        subtotal=(1, "-120"),
        store_id=(2, "store-999"),
        ordered_at=(3, "not a time"),
        tax_paid=(4, "1.5"),
    )
    checked = quality.check(frame, ORDERS, KNOWN, source_file="export.csv")
    assert checked.good.column("order_id").to_pylist() == ["o6"]
    reasons = dict(zip(checked.bad["order_id"].fillna("<null>"), checked.bad["_reason"], strict=True))
    assert reasons == {
        "<null>": "order_id is missing",
        "o2": "subtotal -120 is below 0",
        "o3": "store_id 'store-999' is not a known store",
        "o4": "ordered_at 'not a time' is not a valid timestamp[us]",
        "o5": "tax_paid '1.5' is not a valid int64",
    }
    assert set(checked.bad["_source_file"]) == {"export.csv"}
    assert checked.bad_ratio == pytest.approx(5 / 6)


def test_duplicate_keys_keep_the_first_row():
    checked = quality.check(_orders(order_id=(1, "o1")), ORDERS, KNOWN)
    assert checked.good.num_rows == 5
    assert checked.bad["_reason"].tolist() == ["duplicate order_id"]


def test_a_bad_row_keeps_every_problem():
    checked = quality.check(_orders(subtotal=(0, "-1"), store_id=(0, "nowhere")), ORDERS, KNOWN)
    assert checked.bad["_reason"].tolist() == [
        "store_id 'nowhere' is not a known store; subtotal -1 is below 0"
    ]


def test_missing_columns_name_what_is_missing():
    with pytest.raises(
        quality.WrongColumns, match=r"missing column\(s\) subtotal, tax_paid of jaffle_shop\.orders"
    ):
        quality.check(_orders().drop(columns=["subtotal", "tax_paid"]), ORDERS, KNOWN)


def test_timezones_land_as_utc_wall_clock():
    checked = quality.check(_orders(ordered_at=(0, "2024-03-03T10:00:00+02:00")), ORDERS, KNOWN)
    assert checked.good.column("ordered_at")[0].as_py().hour == 8


def test_every_dataset_declares_a_contract_with_its_key_among_its_columns():
    for dataset in schemas.DATASETS.values():
        contract = dataset.contract()
        names = [c["name"] for c in contract["columns"]]
        assert set(contract["primary_key"]) <= set(names)
        assert dataset.arrow_schema.names == names
        if dataset.partition_by:
            assert pa.types.is_timestamp(dataset.arrow_schema.field(dataset.partition_by).type) or (
                pa.types.is_date(dataset.arrow_schema.field(dataset.partition_by).type)
            )
