"""The landing policy's plain functions."""

from __future__ import annotations

import pytest
from jaffle_contract import datasets
from jaffle_ingestion.landing import READERS, TableReport, TooManyBadRows, check_bad_rows


def test_the_bad_row_policy_names_refused_partitions_and_datasets_over_the_limit():
    fine = TableReport("jaffle_shop.orders", landed=99, quarantined=1)
    check_bad_rows([fine], 0.01, "/lake/quarantine/jaffle_shop")  # 1% is allowed
    worse = TableReport("jaffle_shop.orders", landed=8, quarantined=2, refused=["2024-03-03"], held_back=0)
    with pytest.raises(TooManyBadRows) as failure:
        check_bad_rows([fine, worse], 0.01, "/lake/quarantine/jaffle_shop")
    message = str(failure.value)
    assert "more than 1.00% of rows were rejected (jaffle_shop.orders 2 of 10)" in message
    assert "partitions left as they were: jaffle_shop.orders 2024-03-03" in message
    assert message.endswith("Rejected rows and their reasons are in /lake/quarantine/jaffle_shop")


def test_every_file_a_landing_folder_takes_has_a_reader():
    # `./dev land` copies the suffixes the contract names; the ingestion team reads exactly those.
    assert set(READERS) == set(datasets.LANDABLE)
