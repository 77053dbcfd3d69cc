"""Forecasting cost: model selection by backtest for many store series, against the baseline alone.

    hatch run ml-forecast:python bench/forecast.py [--series 100 300 1000] [--days 730]

Series are built from the platform's synthetic revenue (the ML test fixture): each one is a fixture
store's two years, rescaled and with its own noise. For each series count it times
- selection: jaffle_ml_forecast.forecast.forecast (3-window backtest of SeasonalNaive, AutoETS, AutoTheta,
  then the chosen model's 28-day forecast with intervals), with n_jobs = 1 and 2
- baseline:  a SeasonalNaive forecast alone (what selection is compared against)
and prints seconds, ms per series, and ratios. statsforecast 2.1 has no numba, so there is no JIT
compilation to pay per process; the first fit's import cost is timed separately ("warm-up").
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from jaffle_ml_forecast import forecast
from statsforecast import StatsForecast
from statsforecast.models import SeasonalNaive

FIXTURE = (
    Path(__file__).resolve().parent.parent / "packages/ml_forecast/tests/fixtures/daily_store_revenue.parquet"
)


def series(count: int, days: int) -> pd.DataFrame:
    fixture = pd.read_parquet(FIXTURE)
    stores = sorted(fixture["location_id"].unique())
    rng = np.random.default_rng(7)
    frames = []
    for i in range(count):
        base = fixture[fixture["location_id"] == stores[i % len(stores)]].tail(days)
        y = base["revenue"].to_numpy() * rng.uniform(0.2, 5) * rng.normal(1, 0.05, len(base))
        frames.append(
            pd.DataFrame({"unique_id": f"s{i:05d}", "ds": pd.to_datetime(base["order_date"]), "y": y})
        )
    return pd.concat(frames, ignore_index=True)


def timed(fn) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, nargs="+", default=[100, 300, 1000])
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--horizon", type=int, default=28)
    args = parser.parse_args()
    warm = timed(lambda: forecast.forecast(series(1, 60), 7))
    print(f"warm-up (first fit in a fresh process, 1 series): {warm:.2f} s")
    print(f"{'series':>7}{'jobs':>6}{'selection s':>13}{'ms/series':>11}{'baseline s':>12}{'ratio':>8}")
    first: float | None = None
    for count in args.series:
        data = series(count, args.days)
        base = timed(
            lambda data=data: StatsForecast(models=[SeasonalNaive(season_length=7)], freq="D").forecast(
                df=data, h=args.horizon, level=[80, 95]
            )
        )
        for jobs in (1, 2) if count == args.series[0] else (2,):
            took = timed(lambda data=data, n=jobs: forecast.forecast(data, args.horizon, n_jobs=n))
            per_series = 1000 * took / count
            print(f"{count:>7}{jobs:>6}{took:>13.1f}{per_series:>11.0f}{base:>12.2f}{took / base:>7.0f}x")
            if jobs == 2:
                first = first or took / count
    print(
        f"growth: per-series cost at the largest count vs the smallest: {took / args.series[-1] / first:.2f}x"
    )


if __name__ == "__main__":
    main()
