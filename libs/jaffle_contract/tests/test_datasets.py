"""jaffle_contract.datasets."""

from __future__ import annotations

import pytest
from jaffle_contract import datasets


def test_datasets_live_in_known_places():
    assert datasets.warehouse_file() == "warehouse/jaffle_shop.duckdb"
    assert datasets.warehouse_file("attribution") == "warehouse/attribution.duckdb"
    assert datasets.FORECASTS == "lake/ml/revenue_forecast"


def test_a_path_inside_the_data_root_is_kept_and_one_outside_is_refused():
    assert datasets.inside_data_root("dashboards/x") == "dashboards/x"
    assert datasets.inside_data_root("a/./b/../c") == "a/c"
    for outside in ("/etc/x", "../x", "a/../../x", "..", "s3://elsewhere/x"):
        with pytest.raises(ValueError, match="is outside the data folder"):
            datasets.inside_data_root(outside)
