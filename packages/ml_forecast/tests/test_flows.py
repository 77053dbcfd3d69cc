"""jaffle_ml_forecast.flows on its own: what the `sales-forecast` flow refuses before it reads anything,
and what a run returns and records. (test_forecast.py runs the flow for its datasets: the forecasts, the
metrics and their declarations.)"""

from __future__ import annotations

import json
import sys
from datetime import date, timedelta
from importlib.metadata import version
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from jaffle_contract import contracts, runtime
from jaffle_contract.window import yesterday
from jaffle_ml_forecast import datasets, forecast
from jaffle_ml_forecast.flows import sales_forecast

FIXTURE = Path(__file__).parent / "fixtures" / "daily_store_revenue.parquet"


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("JAFFLE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("JAFFLE_ML_N_JOBS", "1")
    return tmp_path


def _refused(data_dir: Path, **parameters) -> str:
    """The flow's own checks, called without Prefect (`.fn`): the error, and nothing written."""
    given = {"start_date": None, "end_date": None, "horizon_days": 28, "stores": None, **parameters}
    with pytest.raises(ValueError) as refused:
        sales_forecast.fn(**given)
    assert list(data_dir.iterdir()) == [], "a refused run wrote something"
    return str(refused.value)


def test_a_window_that_ends_before_it_starts_is_refused_naming_both_days(data_dir):
    message = _refused(data_dir, start_date=date(2024, 1, 2), end_date=date(2024, 1, 1))
    assert message == "end_date 2024-01-01 is before start_date 2024-01-02"


def test_a_start_without_an_end_is_checked_against_yesterday(data_dir):
    after = yesterday() + timedelta(days=3)
    message = _refused(data_dir, start_date=after)
    assert message == f"end_date {yesterday().isoformat()} is before start_date {after.isoformat()}"


@pytest.mark.parametrize(
    ("horizon", "says"),
    [
        (0, "greater than or equal to 1"),
        (-7, "greater than or equal to 1"),
        (forecast.MAX_HORIZON_DAYS + 1, f"less than or equal to {forecast.MAX_HORIZON_DAYS}"),
    ],
)
def test_a_horizon_outside_one_to_a_year_is_refused_by_its_schema_naming_the_bound(horizon, says):
    """The bounds live in the parameter's type: Prefect checks them when a run starts (the server
    checks the same bounds, from the deployment's schema, before it creates one)."""
    from prefect.exceptions import ParameterTypeError

    with pytest.raises(ParameterTypeError, match=f"horizon_days: Input should be {says}"):
        sales_forecast.validate_parameters({"horizon_days": horizon})


def test_the_horizons_description_says_the_bounds_its_schema_has():
    from prefect.utilities.callables import parameter_schema

    horizon = parameter_schema(sales_forecast).model_dump()["properties"]["horizon_days"]
    assert (horizon["minimum"], horizon["maximum"]) == (1, forecast.MAX_HORIZON_DAYS)
    assert horizon["description"].endswith(f"Range: 1 to {forecast.MAX_HORIZON_DAYS}.")


@pytest.fixture(scope="module")
def prefect_api():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def warehouse(data_dir):
    """One store's last half year in the dbt team's published warehouse, as its producer declares it."""
    _, declared = contracts.producers(contracts.load_all(Path(__file__).resolve().parents[3]))[
        "jaffle_shop.daily_store_revenue"
    ]
    revenue = pd.read_parquet(FIXTURE)
    revenue = revenue[(revenue["order_date"] >= date(2023, 7, 1)) & (revenue["location_id"] == "store-003")]
    path = data_dir / "warehouse" / "jaffle_shop.duckdb"
    path.parent.mkdir(parents=True)
    with duckdb.connect(str(path)) as con:
        con.register("revenue", revenue)
        con.execute(
            "create table daily_store_revenue as "
            + contracts.select_as_declared(declared, "revenue", revenue.columns)
        )
    return data_dir


def test_a_run_returns_its_as_of_day_what_it_wrote_and_leaves_its_runtime_record(prefect_api, warehouse):
    from prefect.artifacts import Artifact

    result = sales_forecast(end_date=date(2023, 12, 31), horizon_days=3, stores=[])  # [] is every store

    assert result["as_of"] == "2023-12-31"
    assert (result["rows"], result["stores"]) == (3, 1)
    assert result["models"] and set(result["models"]) <= set(forecast.CANDIDATES)
    written = Path(result["path"])
    assert written.is_relative_to(warehouse / "lake") and "as_of=2023-12-31" in written.parts
    assert len(pd.read_parquet(written)) == 3
    record = result["runtime"]
    assert record["sys_prefix"] == sys.prefix
    assert {name: record[name] for name in ("prefect", "pandas", "statsforecast", "duckdb")} == {
        name: version(name) for name in ("prefect", "pandas", "statsforecast", "duckdb")
    }
    [published] = json.loads(Artifact.get(runtime.artifact_key(datasets.DECLARATIONS.team)).data)
    assert published == record
