"""Where the dbt team reads and writes; one place, read from the environment."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_DIR = Path(__file__).parent / "project"


class DbtSettings(BaseSettings):
    """`JAFFLE_DATA_DIR` is the platform-wide data root: the lake and the warehouse live under it."""

    model_config = SettingsConfigDict(env_prefix="JAFFLE_")

    data_dir: Path = Path("data")
    dbt_target: str = "local"

    @property
    def lake_dir(self) -> Path:
        return self.data_dir.resolve() / "lake"

    @property
    def warehouse_path(self) -> Path:
        return self.data_dir.resolve() / "warehouse" / "jaffle_shop.duckdb"

    @property
    def artifacts_dir(self) -> Path:
        return self.data_dir.resolve() / "dbt"
