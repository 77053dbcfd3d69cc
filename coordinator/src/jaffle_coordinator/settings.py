"""The coordinator's settings, read from the environment (prefix JAFFLE_COORDINATOR_)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class CoordinatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JAFFLE_COORDINATOR_")

    # A child that has not finished by then fails the parent (and a backfill chunk gets six times it).
    child_timeout_seconds: float = 3 * 3600
    # Global concurrency limit that serializes warehouse stages across concurrent platform runs;
    # `jaffle-platform up` creates it (strict=True makes a missing limit an error, not a no-op).
    warehouse_limit: str = "jaffle-warehouse"
    parent_deployment: str = "data-platform/data-platform"
