"""Where the datasets teams hand each other live, under the platform's data root (a folder or an object
store: `storage.py`).

warehouse/<project>.duckdb                 a dbt project's published warehouse (read-only copies)
lake/raw/<source>/<table>/...              landed sources (the ingestion team's layout)
lake/ml/revenue_forecast/as_of=YYYY-MM-DD/ forecasts
dashboards/latest.html                     the dashboard
landing/<source>/...                       files an operator drops for the ingestion team to land
"""

from __future__ import annotations

import posixpath

WAREHOUSE = "warehouse"
LAKE = "lake"
DASHBOARDS = "dashboards"
LANDING = "landing"
# The files a landing folder takes: the ingestion team reads these formats, `./dev land` copies them.
LANDABLE = (".csv", ".parquet")
# The global concurrency limit every warehouse writer holds while it builds (one at a time); the
# operations CLI creates it, the dbt flows take it.
WAREHOUSE_LIMIT = "jaffle-warehouse"
# How long the Prefect API may be away (a server restart: an upgrade, a host reboot) without costing a
# running flow run anything: its client retries, its heartbeats and its warehouse slot's lease outlast it.
API_OUTAGE_SECONDS = 120
# The warehouse slot's lease: how soon a dead build's slot frees itself. It outlasts such an outage (a
# lease the server saw expire while it was away is revoked, and a strict build is stopped when its renewal
# fails) by a renewal's margin.
WAREHOUSE_LEASE_SECONDS = API_OUTAGE_SECONDS + 30
# The Prefect Secret block holding the password of the warehouse's PostgreSQL role (the dbt `postgres`
# target): `./dev up` saves it from the operator's JAFFLE_PG_PASSWORD; flow runs never get it in their
# environment.
WAREHOUSE_PASSWORD_BLOCK = "jaffle-pg-password"
# Files published for others to read (a web server, another team's user, a BI tool): readable by all,
# writable by their owner only.
PUBLISHED_MODE = 0o644


def inside_data_root(path: str) -> str:
    """`path`, relative to the data root, normalised, if it stays inside the root: a parameter never
    makes a flow write anywhere else."""
    normal = posixpath.normpath(str(path).replace("\\", "/"))
    if posixpath.isabs(normal) or normal == ".." or normal.startswith("../") or "://" in str(path):
        raise ValueError(
            f"{str(path)!r} is outside the data folder: outputs stay inside it (a relative path)"
        )
    return normal


def warehouse_file(project: str = "jaffle_shop") -> str:
    """The published DuckDB file of a dbt project under the data root, the one readers open read-only."""
    return f"{WAREHOUSE}/{project}.duckdb"


FORECASTS = f"{LAKE}/ml/revenue_forecast"
