"""Where the dbt team reads and writes; one place, read from `JAFFLE_*` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from jaffle_contract import datasets
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECTS_DIR = Path(__file__).parent / "projects"
PROJECTS = ("jaffle_shop", "attribution")


class DbtSettings(BaseSettings):
    """`JAFFLE_DATA_DIR` is the platform-wide data root: the lake and the warehouse live under it.

    warehouse/<project>.duckdb          published: what readers open, read-only, replaced atomically
    warehouse/.build/<project>.duckdb   where dbt builds (kept between runs: marts are incremental)
    dbt/<project>/                      dbt's target folder, logs and generated docs
    """

    model_config = SettingsConfigDict(env_prefix="JAFFLE_")

    data_dir: Path = Path("data")
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
    # the slot of a build whose process died frees itself (Prefect's minimum lease is 60 s).
    warehouse_limit: str = datasets.WAREHOUSE_LIMIT
    warehouse_lease_seconds: float = Field(60, ge=60)
    # How long a build keeps asking for the slot while the Prefect API does not answer (a restart).
    warehouse_api_patience_seconds: float = Field(120, ge=0)

    @property
    def pg_dsn(self) -> str:
        return (
            f"host={self.pg_host} port={self.pg_port} user={self.pg_user} "
            f"password={self.pg_password.get_secret_value()} dbname={self.pg_database}"
        )

    @property
    def lake_dir(self) -> Path:
        return self.data_dir.resolve() / "lake"

    @property
    def warehouse_dir(self) -> Path:
        return self.data_dir.resolve() / "warehouse"

    def published(self, project: str) -> Path:
        return datasets.published_warehouse(self.data_dir.resolve(), project)

    def build_path(self, project: str) -> Path:
        return self.warehouse_dir / ".build" / f"{project}.duckdb"

    def lock_path(self, project: str) -> Path:
        return self.warehouse_dir / ".build" / f"{project}.lock"

    def artifacts_dir(self, project: str) -> Path:
        return self.data_dir.resolve() / "dbt" / project
