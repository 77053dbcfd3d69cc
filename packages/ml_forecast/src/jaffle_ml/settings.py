"""Where the ML team reads and writes, and how hard it works; read from `JAFFLE_*` variables."""

from __future__ import annotations

import os
from pathlib import Path

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
        return self.data_dir / "warehouse" / "jaffle_shop.duckdb"

    @property
    def ml_dir(self) -> Path:
        return self.data_dir / "lake" / "ml"

    @property
    def forecasts_dir(self) -> Path:
        return self.ml_dir / "revenue_forecast"

    @property
    def metrics_dir(self) -> Path:
        return self.ml_dir / "forecast_metrics"
