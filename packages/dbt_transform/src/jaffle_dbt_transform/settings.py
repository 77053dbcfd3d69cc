"""Where the dbt team reads and writes; one place, read from `JAFFLE_*` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from jaffle_contract import datasets
from jaffle_data.storage import DataSettings
from pydantic import Field, SecretStr

PROJECTS_DIR = Path(__file__).parent / "projects"
PROJECTS = ("jaffle_shop", "attribution")


class DbtSettings(DataSettings):
    """The lake and the published warehouses live under the platform's data root (`JAFFLE_DATA_DIR`
    or `JAFFLE_DATA_URL`: jaffle_data.storage); dbt's own scratch under the work folder.

    <data>/warehouse/<project>.duckdb   published: what readers open, read-only, replaced atomically
    <work>/warehouse/.build/<project>.duckdb   where dbt builds (kept between runs: marts are incremental)
    <work>/dbt/<project>/               dbt's target folder, logs and generated docs
    <work>/cache/                       local copies of published warehouses on an object store
    """

    # `local`: DuckDB files under the data folder. `postgres`: the same projects on PostgreSQL.
    dbt_target: Literal["local", "postgres"] = "local"
    pg_host: str = "127.0.0.1"
    pg_port: int = 5432
    pg_user: str = "jaffle"
    # Empty here (flow runs get no passwords in their environment): read from the Prefect Secret block.
    pg_password: SecretStr = SecretStr("")
    pg_password_block: str = datasets.WAREHOUSE_PASSWORD_BLOCK
    pg_database: str = "jaffle"
    # How long a build waits for another build of the same project to finish.
    dbt_lock_timeout_seconds: float = Field(3600, gt=0)
    # The platform-wide warehouse slot every warehouse build holds (created by `./dev up`), and how soon
    # the slot of a build whose process died frees itself (Prefect's minimum lease is 60 s; the platform's
    # outlasts a server restart).
    warehouse_limit: str = datasets.WAREHOUSE_LIMIT
    warehouse_lease_seconds: float = Field(datasets.WAREHOUSE_LEASE_SECONDS, ge=60)
    # How long a build keeps asking for the slot while the Prefect API does not answer (a restart).
    warehouse_api_patience_seconds: float = Field(datasets.API_OUTAGE_SECONDS, ge=0)

    @property
    def pg_dsn(self) -> str:
        return (
            f"host={self.pg_host} port={self.pg_port} user={self.pg_user} "
            f"password={self.pg_password.get_secret_value()} dbname={self.pg_database}"
        )

    @property
    def lake_url(self) -> str:
        """The lake as dbt's sources and the PostgreSQL loader read it (a path or a URL)."""
        return self.storage.uri(datasets.LAKE)

    @property
    def warehouse_dir(self) -> Path:
        assert self.work_dir is not None
        return self.work_dir / datasets.WAREHOUSE

    @property
    def cache_dir(self) -> Path:
        assert self.work_dir is not None
        return self.work_dir / "cache"

    def published_file(self, project: str) -> str:
        """The published warehouse of a project, under the data root."""
        return datasets.warehouse_file(project)

    def published(self, project: str) -> Path:
        """A local file of a project's published warehouse to open read-only (on an object store, a
        copy downloaded when it changed)."""
        return self.storage.fetch(self.cache_dir, self.published_file(project))

    def build_path(self, project: str) -> Path:
        return self.warehouse_dir / ".build" / f"{project}.duckdb"

    def lock_path(self, project: str) -> Path:
        return self.warehouse_dir / ".build" / f"{project}.lock"

    def artifacts_dir(self, project: str) -> Path:
        assert self.work_dir is not None
        return self.work_dir / "dbt" / project
