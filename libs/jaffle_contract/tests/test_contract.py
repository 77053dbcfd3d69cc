from __future__ import annotations

import sys
from datetime import date

import pytest
from jaffle_contract import datasets, deployments, runtime
from jaffle_contract.parameters import parameter
from jaffle_contract.window import Window, resolve_window, trailing_window, yesterday
from pydantic import TypeAdapter


def test_an_empty_date_is_the_other_one_or_yesterday_decided_at_call_time():
    today = date(2024, 3, 2)
    assert resolve_window(None, None, today=today) == Window(date(2024, 3, 1), date(2024, 3, 1))
    assert resolve_window(date(2024, 1, 5), None) == Window(date(2024, 1, 5), date(2024, 1, 5))
    assert resolve_window(None, date(2024, 1, 5)) == Window(date(2024, 1, 5), date(2024, 1, 5))
    assert yesterday(today) == date(2024, 3, 1)


def test_end_before_start_is_rejected_by_every_window():
    with pytest.raises(ValueError, match="end_date 2024-03-01 is before start_date 2024-03-05"):
        resolve_window(date(2024, 3, 5), date(2024, 3, 1))
    with pytest.raises(ValueError, match="end_date 2024-03-01 is before start_date 2024-03-05"):
        Window(date(2024, 3, 5), date(2024, 3, 1))


def test_a_trailing_window_ends_yesterday_and_spans_its_days_without_a_start():
    today = date(2024, 3, 2)
    assert trailing_window(None, None, 90, today=today) == Window(date(2023, 12, 3), date(2024, 3, 1))
    given_start = trailing_window(date(2024, 2, 1), None, 90, today=today)
    assert given_start == Window(date(2024, 2, 1), date(2024, 3, 1))
    assert trailing_window(None, date(2024, 1, 10), 3) == Window(date(2024, 1, 8), date(2024, 1, 10))
    with pytest.raises(ValueError, match="end_date 2024-03-01 is before start_date 2024-03-05"):
        trailing_window(date(2024, 3, 5), None, 90, today=today)
    with pytest.raises(ValueError, match="at least one day, not 0"):
        trailing_window(None, None, 0)


def test_a_window_is_its_days_its_parameters_and_its_name():
    window = Window(date(2024, 2, 28), date(2024, 3, 1))
    assert window.days == [date(2024, 2, 28), date(2024, 2, 29), date(2024, 3, 1)]
    assert window.parameters() == {"start_date": "2024-02-28", "end_date": "2024-03-01"}
    assert str(window) == "2024-02-28..2024-03-01" and str(Window(window.end, window.end)) == "2024-03-01"


def test_a_parameter_carries_its_title_description_and_default_into_the_schema():
    schema = TypeAdapter(int).json_schema()
    field = parameter(7, "Days per chunk", "Each chunk is one run.")
    assert field.default == 7 and field.description == "Each chunk is one run."
    assert field.json_schema_extra == {"title": "Days per chunk"} and schema["type"] == "integer"


def test_every_deployment_name_is_written_once():
    names = [v for k, v in vars(deployments).items() if k.isupper() and isinstance(v, str)]
    assert len(names) == len(set(names))
    assert deployments.qualified(deployments.SALES_FORECAST) == "sales-forecast/sales-forecast"


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


def test_the_runtime_record_names_this_interpreter_and_the_versions_asked_for():
    record = runtime.runtime_record(("pydantic",))
    assert record["sys_prefix"] == sys.prefix and record["python"] == sys.version.split()[0]
    assert set(record) == {"sys_prefix", "container_id", "python", "pydantic", "environment"}
    assert record["pydantic"]
    assert "PATH" in record["environment"].split() and "=" not in record["environment"]  # names, no values
    assert runtime.artifact_key("ml") == "runtime-ml"
