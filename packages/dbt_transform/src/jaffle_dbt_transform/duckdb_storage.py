"""A dbt-duckdb plugin (profiles.yml) that lets a build read the lake on the platform's data root when
that root is an object store: it registers the root's fsspec filesystem with each DuckDB connection, so
`read_parquet('s3://...')` goes through fsspec and no DuckDB extension is downloaded. On a local
root it does nothing."""

from __future__ import annotations

from dbt.adapters.duckdb.plugins import BasePlugin

from jaffle_dbt_transform.settings import DbtSettings


class Plugin(BasePlugin):
    def configure_connection(self, conn) -> None:  # type: ignore[no-untyped-def]
        DbtSettings().storage.register(conn)
