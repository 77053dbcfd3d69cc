"""Where the dashboards team reads and writes; one place, read from the environment."""

from __future__ import annotations

from pathlib import Path

from jaffle_contract import datasets
from pydantic_settings import BaseSettings, SettingsConfigDict


class DashboardSettings(BaseSettings):
    """`JAFFLE_DATA_DIR` is the platform-wide data root."""

    model_config = SettingsConfigDict(env_prefix="JAFFLE_")

    data_dir: Path = Path("data")

    @property
    def warehouse_path(self) -> Path:
        return datasets.published_warehouse(self.data_dir)

    @property
    def attribution_path(self) -> Path:
        return datasets.published_warehouse(self.data_dir, "attribution")

    @property
    def forecasts_dir(self) -> Path:
        return datasets.forecasts_dir(self.data_dir)

    @property
    def output_dir(self) -> Path:
        return datasets.dashboards_dir(self.data_dir)
