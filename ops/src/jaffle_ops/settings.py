"""The operations CLI's settings, read from the environment (prefix JAFFLE_) once, here."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_PORT = 4200
# Built by docker/base-image.sh with debootstrap: no registry gives us one here.
DEFAULT_BASE_IMAGE = "jaffle-base:bookworm"


class OpsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JAFFLE_", extra="ignore")

    # Where the local platform keeps its database, logs, pid files and data (default .platform/).
    platform_home: Path | None = None
    # The local server's port on 127.0.0.1.
    platform_port: int = DEFAULT_PORT
    # A Prefect API this CLI did not start (the compose stack, another machine); unset: the local one.
    api_url: str | None = None
    # The `user:password` of that API's basic auth (the compose stack's PREFECT_API_AUTH_STRING); the local
    # platform's own secret is in its home (`secrets.py`), never in the environment.
    api_auth_string: SecretStr | None = Field(
        None, validation_alias=AliasChoices("JAFFLE_API_AUTH_STRING", "PREFECT_API_AUTH_STRING")
    )
    # The warehouse role's password (the dbt `postgres` target): `up` and `deploy` keep it in a Prefect
    # Secret block, so it never travels in a flow run's environment.
    pg_password: SecretStr | None = None
    # The platform's data root on an object store (s3://bucket/prefix; unset: the home's data folder), and
    # the credentials `up` and `deploy` keep for it in a Prefect Secret block (jaffle_data.storage):
    # the operator's AWS_* variables, which never travel in a flow run's environment.
    data_url: str | None = None
    aws_access_key_id: SecretStr | None = Field(None, validation_alias=AliasChoices("AWS_ACCESS_KEY_ID"))
    aws_secret_access_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("AWS_SECRET_ACCESS_KEY")
    )
    aws_session_token: SecretStr | None = Field(None, validation_alias=AliasChoices("AWS_SESSION_TOKEN"))
    aws_profile: str | None = Field(None, validation_alias=AliasChoices("AWS_PROFILE"))
    aws_endpoint_url: str | None = Field(None, validation_alias=AliasChoices("AWS_ENDPOINT_URL"))
    aws_region: str | None = Field(None, validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION"))
    # Where Docker flow runs keep the data: `volume:NAME` (a named volume), an absolute folder every
    # worker host shares, or unset for the platform home's data folder (as this user, for a laptop).
    docker_data: str | None = None
    # A Prefect Cloud API key: sent to a Prefect Cloud API only, never to any other server.
    prefect_api_key: SecretStr | None = Field(None, validation_alias=AliasChoices("PREFECT_API_KEY"))
    # A registry the team images are pushed to, for workers on other machines.
    registry: str | None = None
    # The base of team images: the local debootstrap image where no registry is reachable.
    base_image: str = DEFAULT_BASE_IMAGE
    # How process workers start a flow run: `warm` forks it from a parent that has already imported the
    # team's code (jaffle_runtime.launcher), `stock` is Prefect's `python -m prefect.engine`. `up` keeps
    # the choice in the platform home; unset, the home's choice (warm on a new home).
    launcher: Literal["warm", "stock"] | None = None
    # Where to look for the checkout (default: upward from the working directory).
    repo_root: Path | None = None
    # PREFECT_API_URL as the caller's shell has it: only for the hint when no server answers.
    ambient_api_url: str | None = Field(None, validation_alias=AliasChoices("PREFECT_API_URL"))
