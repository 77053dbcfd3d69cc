"""Where the ML team reads and writes, and how hard it works; read from `JAFFLE_*` variables."""

from __future__ import annotations

import os
from pathlib import Path

from jaffle_contract import datasets
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class MlSettings(BaseSettings):
    """`JAFFLE_DATA_DIR` is the platform-wide data root."""

    model_config = SettingsConfigDict(env_prefix="JAFFLE_")

    data_dir: Path = Path("data")
    # Processes statsforecast fits series in; default: every core this process may use.
    ml_n_jobs: int = Field(default_factory=lambda: len(os.sched_getaffinity(0)), ge=1)

    @property
    def warehouse_path(self) -> Path:
        """The dbt team's published warehouse, opened read-only (never the file dbt writes)."""
        return datasets.published_warehouse(self.data_dir)

    @property
    def forecasts_dir(self) -> Path:
        return datasets.forecasts_dir(self.data_dir)

    @property
    def metrics_dir(self) -> Path:
        return self.forecasts_dir.parent / "forecast_metrics"
