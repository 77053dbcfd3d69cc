from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from jaffle_contract import contracts
from jaffle_ml_forecast import forecast
from jaffle_ml_forecast.flows import sales_forecast
from prefect.artifacts import Artifact
from prefect.testing.utilities import prefect_test_harness

# Two years of the platform's synthetic revenue per store (tools/make_ml_fixture.py).
FIXTURE = Path(__file__).parent / "fixtures" / "daily_store_revenue.parquet"
# The producer's declaration, read from the workspace's sources: this environment has no dbt package.
_, DAILY_STORE_REVENUE = contracts.producers(contracts.load_all(Path(__file__).resolve().parents[3]))[
    "jaffle_shop.daily_store_revenue"
]
START = date(2020, 1, 6)  # a Monday


@pytest.fixture(scope="module", autouse=True)
def prefect_api():
    with prefect_test_harness(server_startup_timeout=120):
        yield


def _history(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {"unique_id": frame["location_id"], "ds": pd.to_datetime(frame["order_date"]), "y": frame["revenue"]}
    )


def _weekly(days: int, store: str, level: float, start: date = START) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    dates = [start + timedelta(days=i) for i in range(days)]
    weekly = np.array([0.8, 0.9, 1.0, 1.0, 1.2, 1.5, 1.3])
    y = [level * weekly[d.weekday()] * rng.normal(1, 0.03) for d in dates]
    return pd.DataFrame({"order_date": dates, "location_id": store, "revenue": y})


def test_chosen_models_beat_the_seasonal_naive_baseline_on_the_platforms_data():
    revenue = pd.read_parquet(FIXTURE)
    predicted, metrics = forecast.forecast(_history(revenue), horizon_days=28)

    chosen = metrics[metrics["chosen"]]
    baseline = metrics[metrics["model_name"] == forecast.BASELINE].set_index("location_id")["mase"]
    assert len(chosen) == revenue["location_id"].nunique() == 6
    assert set(metrics["model_name"]) == set(forecast.CANDIDATES)
    # Measured on seed 42: chosen mean MASE 0.68 vs seasonal naive 1.02 (see the closing note).
    assert chosen["mase"].mean() < 0.9 * baseline.mean()
    assert (chosen.set_index("location_id")["mase"] <= baseline).all()  # never worse than the baseline
    assert len(predicted) == 6 * 28
    assert (predicted["revenue_lo_95"] <= predicted["revenue_lo_80"]).all()
    assert (predicted["revenue_lo_80"] <= predicted["revenue_forecast"]).all()
    assert (predicted["revenue_forecast"] <= predicted["revenue_hi_80"]).all()
    assert (predicted["revenue_hi_80"] <= predicted["revenue_hi_95"]).all()


def test_short_constant_and_gappy_stores_get_a_reason_not_a_crash():
    steady = _weekly(120, "store-001", 1000.0)
    young = _weekly(20, "store-002", 300.0, start=START + timedelta(days=100))
    newborn = _weekly(4, "store-003", 200.0, start=START + timedelta(days=116))
    flat = pd.DataFrame({"order_date": steady["order_date"], "location_id": "store-004", "revenue": 50.0})
    gappy = _weekly(120, "store-005", 800.0)
    gappy = gappy[~gappy["order_date"].isin([START + timedelta(days=d) for d in (30, 31, 60)])]
    history = _history(pd.concat([steady, young, newborn, flat, gappy]))

    predicted, metrics = forecast.forecast(history, horizon_days=14)

    chosen = metrics[metrics["chosen"]].set_index("location_id")
    assert chosen.loc["store-001", "reason"] == "chosen by lowest MASE"
    assert chosen.loc["store-002", "model_name"] == "SeasonalNaive"
    assert chosen.loc["store-002", "reason"].startswith("only 20 days of history; a backtest needs 56")
    assert chosen.loc["store-003", "model_name"] == "HistoricAverage"
    assert "less than a week" in chosen.loc["store-003", "reason"]
    assert chosen.loc["store-004", "reason"].startswith("constant series")
    assert "3 days without orders counted as 0" in chosen.loc["store-005", "reason"]
    assert predicted.groupby("location_id").size().to_dict() == {f"store-00{i}": 14 for i in range(1, 6)}
    assert np.allclose(predicted.loc[predicted["location_id"] == "store-004", "revenue_forecast"], 50.0)


def test_a_zero_horizon_is_rejected():
    with pytest.raises(ValueError, match="horizon_days must be at least 1"):
        forecast.forecast(_history(_weekly(30, "s", 1.0)), 0)


@pytest.fixture
def warehouse(tmp_path, monkeypatch):
    monkeypatch.setenv("JAFFLE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("JAFFLE_ML_N_JOBS", "1")
    path = tmp_path / "warehouse" / "jaffle_shop.duckdb"
    path.parent.mkdir(parents=True)
    revenue = pd.read_parquet(FIXTURE)
    revenue = revenue[revenue["order_date"] >= date(2023, 6, 1)]
    # The mart as its producer (the dbt team) declares it: its columns, in order, with their types.
    with duckdb.connect(str(path)) as con:
        con.register("revenue", revenue)
        as_declared = contracts.select_as_declared(DAILY_STORE_REVENUE, "revenue", revenue.columns)
        con.execute(f"create table daily_store_revenue as {as_declared}")
    return tmp_path


def test_the_flow_writes_forecasts_and_metrics_atomically_and_reruns_idempotently(warehouse):
    result = sales_forecast(end_date=date(2023, 12, 31), horizon_days=7)

    assert result["stores"] == 6 and result["mean_mase_chosen"] < result["mean_mase_baseline"]
    ml = warehouse / "lake" / "ml"
    forecasts = pd.read_parquet(ml / "revenue_forecast" / "as_of=2023-12-31")
    metrics = pd.read_parquet(ml / "forecast_metrics" / "as_of=2023-12-31")
    assert len(forecasts) == 42 and forecasts["forecast_date"].min() == date(2024, 1, 1)
    assert len(metrics) == 18 and metrics["chosen"].sum() == 6
    contract = json.loads((ml / "revenue_forecast" / "_schema.json").read_text())
    assert contract["primary_key"] == ["as_of", "location_id", "forecast_date"]
    rows = {r["store"]: r for r in json.loads(Artifact.get("sales-forecast").data)}
    assert set(rows) == {f"store-00{i}" for i in range(1, 7)}
    assert rows["store-001"]["chosen model"] in forecast.CANDIDATES

    first = (ml / "revenue_forecast" / "as_of=2023-12-31" / "part-0.parquet").read_bytes()
    sales_forecast(end_date=date(2023, 12, 31), horizon_days=7)
    assert (ml / "revenue_forecast" / "as_of=2023-12-31" / "part-0.parquet").read_bytes() == first
    assert not list(ml.rglob("*.tmp"))
    # published for other teams to read: readable by everyone, writable by the owner only
    for written in ml.rglob("*.*"):
        assert written.stat().st_mode & 0o777 == 0o644, (written, oct(written.stat().st_mode))

    # A run for one store replaces only that store's rows.
    sales_forecast(end_date=date(2023, 12, 31), horizon_days=7, stores=["store-002"])
    again = pd.read_parquet(ml / "revenue_forecast" / "as_of=2023-12-31")
    assert len(again) == 42 and set(again["location_id"]) == set(forecasts["location_id"])
    others = again["location_id"] != "store-002"
    assert again[others].reset_index(drop=True).equals(forecasts[others].reset_index(drop=True))
    # The store's own rows are the same forecast too (one store's model sees only its history), so the
    # partition is the full run's, byte for byte.
    assert (ml / "revenue_forecast" / "as_of=2023-12-31" / "part-0.parquet").read_bytes() == first


def test_a_forecast_that_breaks_its_declaration_fails_naming_the_column_and_lands_nothing(
    warehouse, monkeypatch
):
    sales_forecast(end_date=date(2023, 12, 30), horizon_days=7)
    ml = warehouse / "lake" / "ml"
    before = {p: p.read_bytes() for p in ml.rglob("*.parquet")}
    assert len(before) == 2

    real = forecast.forecast

    def a_model_that_lost_its_intervals(*args, **kwargs):
        predicted, metrics = real(*args, **kwargs)
        predicted.loc[predicted.index[:3], "revenue_lo_95"] = np.nan
        return predicted, metrics

    monkeypatch.setattr(forecast, "forecast", a_model_that_lost_its_intervals)
    broken = r"revenue_lo_95 has 3 null value\(s\) but is declared not null"
    with pytest.raises(contracts.ContractError, match=broken):
        sales_forecast(end_date=date(2023, 12, 31), horizon_days=7)
    # Neither dataset has the new as-of date, and what was there is untouched.
    assert {p: p.read_bytes() for p in ml.rglob("*.parquet")} == before
    assert not list(ml.rglob("*.tmp"))


def test_a_partition_of_the_wrong_type_is_refused_before_anything_is_written():
    from jaffle_ml_forecast import datasets

    frame = pd.DataFrame(
        {
            "location_id": ["store-001"],
            "forecast_date": [date(2024, 1, 1)],
            "model_name": ["AutoETS"],
            **{c: [1.0] for c in ("revenue_lo_80", "revenue_hi_80", "revenue_lo_95", "revenue_hi_95")},
            "revenue_forecast": ["a lot"],
        }
    )
    with pytest.raises(contracts.ContractError, match=r"ml\.revenue_forecast breaks its declared types"):
        datasets.validate(frame, datasets.FORECAST, date(2023, 12, 31))


def test_a_missing_warehouse_names_the_flow_to_run(tmp_path, monkeypatch):
    monkeypatch.setenv("JAFFLE_DATA_DIR", str(tmp_path))
    with pytest.raises(forecast.NoHistoryError, match="run the dbt-jaffle-shop flow first"):
        sales_forecast(end_date=date(2023, 12, 31))


def test_a_store_filter_with_no_rows_is_named(warehouse):
    with pytest.raises(forecast.NoHistoryError, match="for stores store-999"):
        sales_forecast(end_date=date(2023, 12, 31), stores=["store-999"])


METRICS = pd.DataFrame(
    {
        "location_id": ["s1", "s1", "s2", "s2"],
        "model_name": ["SeasonalNaive", "AutoETS", "SeasonalNaive", "AutoETS"],
        "mase": [1.0, 0.5, float("nan"), float("nan")],
        "chosen": [False, True, True, False],
        "reason": ["", "lowest backtest MASE", "too short to backtest", ""],
    }
)
PREDICTED = pd.DataFrame({"location_id": ["s1", "s1", "s2"], "revenue_forecast": [10.0, 5.5, 3.25]})


def test_the_summary_has_a_row_per_store_with_every_models_mase_and_the_forecast_total():
    rows = forecast.summary_rows(METRICS, PREDICTED)
    assert rows == [
        {
            "store": "s1",
            "chosen model": "AutoETS",
            "MASE AutoETS": 0.5,
            "MASE SeasonalNaive": 1.0,
            "forecast revenue": 15.5,
            "reason": "lowest backtest MASE",
        },
        {
            "store": "s2",
            "chosen model": "SeasonalNaive",
            "MASE AutoETS": None,
            "MASE SeasonalNaive": None,
            "forecast revenue": 3.25,
            "reason": "too short to backtest",
        },
    ]


def test_mean_mase_compares_chosen_models_with_the_baseline_and_says_none_without_scores():
    assert forecast.mean_mase(METRICS) == (0.5, 1.0)
    assert forecast.mean_mase(METRICS[METRICS["location_id"] == "s2"]) == (None, None)


def test_a_horizon_over_a_year_is_rejected_as_the_parameter_says(warehouse):
    from prefect.exceptions import ParameterTypeError

    with pytest.raises(ParameterTypeError, match="horizon_days: Input should be less than or equal to 365"):
        sales_forecast(end_date=date(2024, 3, 1), horizon_days=366)


class _Raised(BaseException):
    """What Prefect's SIGTERM handler raises in a flow run (a BaseException, as TerminationSignal)."""


def _raise_on_sigterm(signum, _frame):
    raise _Raised(signum)


def test_pool_workers_end_on_sigterm_even_when_the_run_handles_it():
    """A flow run handles SIGTERM in Python; the pool workers it forks must not, or Pool.terminate()
    can leave one alive that Pool.join() waits on forever. The workers report their own handler."""
    import signal

    previous = signal.signal(signal.SIGTERM, _raise_on_sigterm)
    try:
        Pool, kwargs = forecast.Engine(models=[], freq="D")._get_pool()
        with Pool(2, **kwargs) as pool:
            handlers = pool.map(signal.getsignal, [signal.SIGTERM] * 4)
        assert handlers == [signal.SIG_DFL] * 4
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_few_stores_are_forecast_in_process_and_many_across_processes():
    assert forecast.jobs_for(6, n_jobs=2) == 1  # a pool would cost more than it saves
    assert forecast.jobs_for(forecast.MIN_SERIES_PER_JOB * 2, n_jobs=2) == 2
    assert forecast.jobs_for(1000, n_jobs=4) == 4
    assert forecast.jobs_for(1000, n_jobs=1) == 1
