"""The coordinator's settings, read from the environment (prefix JAFFLE_COORDINATOR_)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class CoordinatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JAFFLE_COORDINATOR_")

    # A child that has not finished by then fails the parent (which cancels it).
    child_timeout_seconds: float = 3 * 3600
    # A parent run (daily, or one backfill chunk) that has not finished by then is failed by Prefect, so a
    # stuck day never overlaps the next scheduled one for long.
    parent_timeout_seconds: float = 6 * 3600
    # The parent waits for a child's terminal event in slices of this length; each slice starts by
    # reading the child's state, so an event lost in a server restart costs at most one slice.
    wait_slice_seconds: float = 30
    # How long the parent rides out an unreachable Prefect API before it fails.
    server_unreachable_seconds: float = 300


# The one instance every module reads (tests change its fields in place).
SETTINGS = CoordinatorSettings()
