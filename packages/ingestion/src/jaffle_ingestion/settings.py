"""The ingestion team's configuration: one place, read from `JAFFLE_*` environment variables."""

from __future__ import annotations

from typing import Any

from jaffle_contract import datasets, deployments
from jaffle_contract.deployments import IngestFrom
from jaffle_contract.window import MAX_RUN_DAYS
from jaffle_data.storage import DataSettings
from pydantic import Field, field_validator

from jaffle_ingestion.schemas import SOURCES


class IngestionSettings(DataSettings):
    """The lake and the landing folder live under the platform's data root (`JAFFLE_DATA_DIR`, or
    `JAFFLE_DATA_URL`: jaffle_data.storage) unless `JAFFLE_LAKE_URL` / `JAFFLE_LANDING_URL` point
    elsewhere (any fsspec URL, e.g. s3://)."""

    lake_url: str | None = None
    landing_url: str | None = None
    # Where runs that do not choose land from: `synthetic` or `landing` for every source, or per source,
    # e.g. `jaffle_shop:landing` (the others synthetic) or `jaffle_shop:landing,marketing:synthetic`.
    ingest_from: str = "synthetic"
    seed: int = 42
    orders_per_day: int = Field(1000, ge=1, le=1_000_000)
    stores: int = Field(6, ge=1, le=1000)
    # A partition with more rejected rows than this share is not replaced, and the run fails.
    max_bad_row_ratio: float = Field(0.01, ge=0, le=1)
    # Longest range one run may land; backfills split longer ranges into chunks.
    max_days: int = Field(MAX_RUN_DAYS, ge=1)

    @field_validator("ingest_from")
    @classmethod
    def _known_choices(cls, value: str) -> str:
        cls.choices(value)
        return value

    @staticmethod
    def choices(value: str) -> dict[str, IngestFrom]:
        """`JAFFLE_INGEST_FROM` as a choice per source (synthetic where it names none); ValueError
        naming what is wrong."""
        return {**dict.fromkeys(SOURCES, "synthetic"), **deployments.ingest_from(value)}

    def source_for(self, source: str) -> IngestFrom:
        """Where `source` lands from when a run does not say."""
        return self.choices(self.ingest_from)[source]

    @property
    def lake(self) -> str:
        return self.lake_url or self.storage.uri("lake")

    def options(self, url: str) -> dict[str, Any]:
        """The filesystem options for `url`: the data root's credentials when it lies on the data
        root's store, else none (fsspec's own configuration: the environment, the machine's)."""
        return self.storage.options if url.startswith(self.storage.uri()) else {}

    @property
    def landing(self) -> str:
        return self.landing_url or self.storage.uri(datasets.LANDING)
