"""Where the ingestion team writes; one place, read from the environment."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class IngestionSettings(BaseSettings):
    """`JAFFLE_DATA_DIR` is the platform-wide data root; the lake lives under it."""

    model_config = SettingsConfigDict(env_prefix="JAFFLE_")

    data_dir: Path = Path("data")
    seed: int = 42
    orders_per_day: int = 120
    stores: int = 6

    @property
    def lake_dir(self) -> Path:
        return self.data_dir / "lake"
