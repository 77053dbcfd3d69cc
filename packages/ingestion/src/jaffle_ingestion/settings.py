"""The ingestion team's configuration: one place, read from `JAFFLE_*` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

Source = Literal["synthetic", "landing"]


class IngestionSettings(BaseSettings):
    """`JAFFLE_DATA_DIR` is the platform-wide data root; the lake and landing folder live under it
    unless `JAFFLE_LAKE_URL` / `JAFFLE_LANDING_URL` point elsewhere (any fsspec URL, e.g. s3://)."""

    model_config = SettingsConfigDict(env_prefix="JAFFLE_")

    data_dir: Path = Path("data")
    lake_url: str | None = None
    landing_url: str | None = None
    ingest_from: Source = "synthetic"
    seed: int = 42
    orders_per_day: int = Field(1000, ge=1, le=1_000_000)
    stores: int = Field(6, ge=1, le=1000)
    # A partition with more rejected rows than this share is not replaced, and the run fails.
    max_bad_row_ratio: float = Field(0.01, ge=0, le=1)
    # Longest range one run may land; backfills split longer ranges into chunks.
    max_days: int = Field(366, ge=1)

    @property
    def lake(self) -> str:
        return self.lake_url or str(self.data_dir / "lake")

    @property
    def landing(self) -> str:
        return self.landing_url or str(self.data_dir / "landing")
