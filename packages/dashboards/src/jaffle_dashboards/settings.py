"""Where the dashboards team reads and writes; one place, read from the environment."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class DashboardSettings(BaseSettings):
    """`JAFFLE_DATA_DIR` is the platform-wide data root."""

    model_config = SettingsConfigDict(env_prefix="JAFFLE_")

    data_dir: Path = Path("data")

    @property
    def warehouse_path(self) -> Path:
        return self.data_dir / "warehouse" / "jaffle_shop.duckdb"

    @property
    def attribution_path(self) -> Path:
        return self.data_dir / "warehouse" / "attribution.duckdb"

    @property
    def forecasts_dir(self) -> Path:
        return self.data_dir / "lake" / "ml" / "revenue_forecast"

    @property
    def output_dir(self) -> Path:
        return self.data_dir / "dashboards"
