"""The ingestion team's configuration: one place, read from `JAFFLE_*` environment variables."""

from __future__ import annotations

from typing import Any, Literal

from jaffle_contract.storage import DataSettings
from pydantic import Field

Source = Literal["synthetic", "landing"]


class IngestionSettings(DataSettings):
    """The lake and the landing folder live under the platform's data root (`JAFFLE_DATA_DIR`, or
    `JAFFLE_DATA_URL`: jaffle_contract.storage) unless `JAFFLE_LAKE_URL` / `JAFFLE_LANDING_URL` point
    elsewhere (any fsspec URL, e.g. s3://)."""

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
        return self.lake_url or self.storage.uri("lake")

    def options(self, url: str) -> dict[str, Any]:
        """The filesystem options for `url`: the data root's credentials when it lies on the data
        root's store, else none (fsspec's own configuration: the environment, the machine's)."""
        return self.storage.options if url.startswith(self.storage.uri()) else {}

    @property
    def landing(self) -> str:
        return self.landing_url or self.storage.uri("landing")
