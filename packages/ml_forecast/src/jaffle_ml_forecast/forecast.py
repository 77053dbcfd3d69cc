"""Per-store daily revenue forecasts with model selection by backtest; plain functions, no Prefect.

For every store: a seasonal-naive baseline and two statsforecast models with weekly seasonality
(AutoETS, AutoTheta) are scored by rolling-origin cross-validation (3 windows of up to 14 days),
the one with the lowest MASE is chosen, and it forecasts the horizon with 80% and 95% intervals.
Stores that cannot be backtested (too little history, a constant series) get a simple model and the
reason, in the metrics; one odd store never fails the run.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from statsforecast import StatsForecast
from statsforecast.models import AutoETS, AutoTheta, HistoricAverage, SeasonalNaive

SEASON = 7  # weekly seasonality dominates daily store revenue
# Stores per worker process that make a process pool worth forking: below it, one process does it all.
MIN_SERIES_PER_JOB = 16
LEVELS = [80, 95]
BASELINE = "SeasonalNaive"
MAX_HORIZON_DAYS = 365  # the flow's horizon_days parameter is at most this (its schema says it)
CANDIDATES = (BASELINE, "AutoETS", "AutoTheta")
BACKTEST_WINDOWS = 3
MAX_BACKTEST_HORIZON = 14
# Models train on the last 52 weeks: recent behaviour is what a 4-week forecast needs, and it bounds
# the cost per series (measured in bench/forecast.py).
TRAIN_DAYS = 364


class NoHistoryError(LookupError):
    """The warehouse has no revenue to learn from."""


def _model(name: str):
    return {
        "SeasonalNaive": lambda: SeasonalNaive(season_length=SEASON, alias=name),
        # additive weekly season; error and trend chosen by AICc (a full ZZZ search costs 3x more)
        "AutoETS": lambda: AutoETS(season_length=SEASON, model="ZZA", alias=name),
        "AutoTheta": lambda: AutoTheta(season_length=SEASON, alias=name),
        "HistoricAverage": lambda: HistoricAverage(alias=name),
    }[name]()


def load_history(warehouse: Path, as_of: date, stores: list[str] | None = None) -> pd.DataFrame:
    """Daily revenue per store up to `as_of`, in statsforecast's long format (unique_id, ds, y).

    Reads the dbt team's published warehouse read-only, so it never blocks or breaks a dbt build.
    """
    if not warehouse.exists():
        raise NoHistoryError(f"no warehouse at {warehouse}: run the dbt-jaffle-shop flow first")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        history = con.execute(
            """select location_id as unique_id, cast(order_date as timestamp) as ds,
                      cast(revenue as double) as y
               from daily_store_revenue
               where order_date <= ? and (? is null or list_contains(?, location_id))
               order by 1, 2""",
            [as_of, stores, stores],
        ).df()
    if history.empty:
        wanted = f" for stores {', '.join(stores)}" if stores else ""
        raise NoHistoryError(f"daily_store_revenue has no rows up to {as_of.isoformat()}{wanted}")
    return history


def fill_gaps(history: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Give every store a row for every day since its first sale (a day without orders earned 0).

    Returns the filled series and the number of days filled per store.
    """
    frames, filled = [], {}
    for store, series in history.groupby("unique_id", sort=True):
        days = pd.date_range(series["ds"].min(), series["ds"].max(), freq="D")
        values = series.set_index("ds")["y"].reindex(days)
        filled[store] = int(values.isna().sum())
        frames.append(pd.DataFrame({"unique_id": store, "ds": days, "y": values.fillna(0.0).to_numpy()}))
    return pd.concat(frames, ignore_index=True), pd.Series(filled, name="gaps")


@dataclass(frozen=True)
class Backtest:
    horizon: int
    windows: int

    @property
    def min_history(self) -> int:
        # every window needs two seasons of training before its cutoff
        return self.horizon * self.windows + 2 * SEASON


def backtest_for(horizon_days: int) -> Backtest:
    return Backtest(horizon=min(horizon_days, MAX_BACKTEST_HORIZON), windows=BACKTEST_WINDOWS)


def score(cv: pd.DataFrame, history: pd.DataFrame, models: tuple[str, ...]) -> pd.DataFrame:
    """MASE and sMAPE per store and model from cross-validation output.

    MASE scales each store's error by the in-sample mean absolute weekly difference before its first
    cutoff, so it compares across stores of any size; below 1 beats a seasonal-naive forecast in-sample.
    """
    first_cutoff = cv.groupby("unique_id")["cutoff"].min()
    train = history[history["ds"] <= history["unique_id"].map(first_cutoff)]
    weekly_diff = train.groupby("unique_id")["y"].diff(SEASON).abs()
    scale = weekly_diff.groupby(train["unique_id"]).mean()
    rows = []
    for model in models:
        error = (cv[model] - cv["y"]).abs()
        denominator = cv[model].abs() + cv["y"].abs()
        ape = np.where(denominator > 0, 2 * error / denominator.where(denominator > 0, 1), 0.0)
        per_store = pd.DataFrame({"unique_id": cv["unique_id"], "ae": error, "ape": ape}).groupby("unique_id")
        mae, smape = per_store["ae"].mean(), per_store["ape"].mean()
        mase = (mae / scale.reindex(mae.index)).replace([np.inf, -np.inf], np.nan)
        rows.append(
            pd.DataFrame({"location_id": mae.index, "model_name": model, "mase": mase, "smape": smape})
        )
    return pd.concat(rows, ignore_index=True)


def choose(metrics: pd.DataFrame) -> pd.Series:
    """The model with the lowest MASE per store; the baseline when no model could be scored."""
    scored = metrics.dropna(subset=["mase"])
    best = scored.loc[scored.groupby("location_id")["mase"].idxmin()].set_index("location_id")["model_name"]
    return best.reindex(metrics["location_id"].unique()).fillna(BASELINE)


def _triage(series: pd.DataFrame, backtest: Backtest) -> pd.DataFrame:
    """Per store: how much history, and which path it takes (backtest, or a simple model and why)."""
    stats = series.groupby("unique_id")["y"].agg(
        history_days="size", spread=lambda y: float(y.max() - y.min())
    )
    path = pd.Series("backtest", index=stats.index)
    reason = pd.Series("", index=stats.index)
    short = stats["history_days"] < backtest.min_history
    constant = stats["spread"] == 0
    path[short] = BASELINE
    reason[short] = (
        "only "
        + stats["history_days"][short].astype(str)
        + f" days of history; a backtest needs {backtest.min_history}: {BASELINE} without backtest"
    )
    path[constant] = BASELINE
    reason[constant] = f"constant series: {BASELINE} (repeats it) without backtest"
    too_short = stats["history_days"] < SEASON
    path[too_short] = "HistoricAverage"
    reason[too_short] = (
        "only " + stats["history_days"][too_short].astype(str) + " days, less than a week: HistoricAverage"
    )
    return stats.assign(path=path, reason=reason)


def _terminable() -> None:
    """In a pool worker: die on SIGTERM, as Pool.terminate() expects of its workers."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


class Engine(StatsForecast):
    """statsforecast with worker processes that end when their pool ends them.

    Its pool workers are forked from the flow run, whose SIGTERM handler (Prefect's, which raises in
    Python) they inherit. Pool.terminate() at the end of every parallel call sends them SIGTERM and
    then joins them, and a worker whose handler did not end it kept the run waiting forever (a
    forecast seen stuck for 10 minutes in a backfill). With the default action the kernel ends it."""

    def _get_pool(self):  # statsforecast's hook for the Pool of its parallel calls
        from multiprocessing import get_context

        return get_context("fork").Pool, {"initializer": _terminable}


def jobs_for(series: int, n_jobs: int) -> int:
    """Worker processes for `series` stores: none of its own (1) until each has MIN_SERIES_PER_JOB."""
    return max(1, min(n_jobs, series // MIN_SERIES_PER_JOB))


def forecast(history: pd.DataFrame, horizon_days: int, n_jobs: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Choose a model per store by backtest and forecast `horizon_days` ahead.

    Returns (forecast rows with 80% and 95% intervals, metrics per store and model with the reason).
    """
    if horizon_days < 1:
        raise ValueError(f"horizon_days must be at least 1, got {horizon_days}")
    series, gaps = fill_gaps(history)
    backtest = backtest_for(horizon_days)
    triage = _triage(series, backtest)
    metrics = []

    testable = triage.index[triage["path"] == "backtest"]
    chosen = triage["path"].where(triage["path"] != "backtest")
    if len(testable):
        subset = series[series["unique_id"].isin(testable)]
        engine = Engine(
            models=[_model(m) for m in CANDIDATES], freq="D", n_jobs=jobs_for(len(testable), n_jobs)
        )
        cv = engine.cross_validation(
            df=subset,
            h=backtest.horizon,
            n_windows=backtest.windows,
            step_size=backtest.horizon,
            input_size=TRAIN_DAYS,
        )
        scored = score(cv, subset, CANDIDATES)
        best = choose(scored)
        chosen[best.index] = best
        scored["reason"] = ""
        metrics.append(scored)
    for store, row in triage[triage["path"] != "backtest"].iterrows():
        metrics.append(
            pd.DataFrame(
                {"location_id": [store], "model_name": [row["path"]], "mase": [np.nan], "smape": [np.nan]}
            ).assign(reason=row["reason"])
        )
    metrics = pd.concat(metrics, ignore_index=True)
    metrics["chosen"] = metrics["model_name"] == metrics["location_id"].map(chosen)
    metrics["history_days"] = metrics["location_id"].map(triage["history_days"]).astype("int64")
    metrics["backtest_windows"] = np.where(metrics["reason"] == "", backtest.windows, 0)
    metrics["backtest_horizon_days"] = np.where(metrics["reason"] == "", backtest.horizon, 0)
    filled = metrics["location_id"].map(gaps)
    note = np.where(filled > 0, filled.astype(str) + " days without orders counted as 0", "")
    metrics["reason"] = [
        "; ".join(part for part in (r, n) if part) or ("chosen by lowest MASE" if c else "")
        for r, n, c in zip(metrics["reason"], note, metrics["chosen"], strict=True)
    ]

    outputs = []
    recent = series.groupby("unique_id").tail(TRAIN_DAYS)
    for model, stores in chosen.groupby(chosen):
        subset = recent[recent["unique_id"].isin(stores.index)]
        predicted = Engine(models=[_model(model)], freq="D", n_jobs=jobs_for(len(stores), n_jobs)).forecast(
            df=subset, h=horizon_days, level=LEVELS
        )
        outputs.append(
            pd.DataFrame(
                {
                    "location_id": predicted["unique_id"].astype(str),
                    "forecast_date": pd.to_datetime(predicted["ds"]).dt.date,
                    "model_name": model,
                    "revenue_forecast": predicted[model],
                    **{
                        f"revenue_{side}_{level}": predicted[f"{model}-{side}-{level}"]
                        for level in LEVELS
                        for side in ("lo", "hi")
                    },
                }
            )
        )
    result = pd.concat(outputs, ignore_index=True)
    numbers = [c for c in result.columns if c.startswith("revenue_")]
    result[numbers] = result[numbers].clip(lower=0).fillna(0.0)  # revenue is never negative
    return result.sort_values(["location_id", "forecast_date"], ignore_index=True), metrics


def summary_rows(metrics: pd.DataFrame, predicted: pd.DataFrame) -> list[dict]:
    """One row per store for the run's table: the chosen model, every model's backtest MASE, the
    forecast revenue over the horizon and the reason for the choice."""
    table = (
        metrics.pivot_table(index="location_id", columns="model_name", values="mase", dropna=False)
        .round(3)
        .add_prefix("MASE ")
    )
    chosen = metrics[metrics["chosen"]].set_index("location_id")
    return [
        {
            "store": store,
            "chosen model": chosen.loc[store, "model_name"],
            **{k: (None if pd.isna(v) else float(v)) for k, v in table.loc[store].items()},
            "forecast revenue": round(
                float(predicted.loc[predicted["location_id"] == store, "revenue_forecast"].sum()), 2
            ),
            "reason": chosen.loc[store, "reason"],
        }
        for store in sorted(chosen.index)
    ]


def mean_mase(metrics: pd.DataFrame) -> tuple[float | None, float | None]:
    """The mean backtest MASE of the chosen models and of the seasonal-naive baseline (None: no score)."""
    scored = metrics.dropna(subset=["mase"])
    chosen = scored.loc[scored["chosen"], "mase"].mean()
    baseline = scored.loc[scored["model_name"] == BASELINE, "mase"].mean()
    chosen_mean, baseline_mean = (None if pd.isna(v) else round(float(v), 4) for v in (chosen, baseline))
    return chosen_mean, baseline_mean
