"""Where the datasets teams hand each other live, under the platform's data folder (`JAFFLE_DATA_DIR`).

warehouse/<project>.duckdb                 a dbt project's published warehouse (read-only copies)
lake/raw/<source>/<table>/...              landed sources (the ingestion team's layout)
lake/ml/revenue_forecast/as_of=YYYY-MM-DD/ forecasts
dashboards/latest.html                     the dashboard
"""

from __future__ import annotations

from pathlib import Path

WAREHOUSE = "warehouse"
LAKE = "lake"
DASHBOARDS = "dashboards"
# The global concurrency limit every warehouse writer holds while it builds (one at a time); the
# operations CLI creates it, the dbt flows take it.
WAREHOUSE_LIMIT = "jaffle-warehouse"
# The Prefect Secret block holding the password of the warehouse's PostgreSQL role (the dbt `postgres`
# target): `./dev up` saves it from the operator's JAFFLE_PG_PASSWORD; flow runs never get it in their
# environment.
WAREHOUSE_PASSWORD_BLOCK = "jaffle-pg-password"
# Files published for others to read (a web server, another team's user, a BI tool): readable by all,
# writable by their owner only.
PUBLISHED_MODE = 0o644


def inside_data_root(data_dir: Path, path: str | Path) -> Path:
    """`path` (relative to the data root, or absolute) resolved, if it lies inside the data root: a
    parameter never makes a flow write anywhere else."""
    root = data_dir.resolve()
    resolved = (root / path).resolve()
    if not resolved.is_relative_to(root):
        raise ValueError(f"{str(path)!r} is outside the data folder {root}: outputs stay inside it")
    return resolved


def published_warehouse(data_dir: Path, project: str = "jaffle_shop") -> Path:
    """The published DuckDB file of a dbt project, the one readers open read-only."""
    return data_dir / WAREHOUSE / f"{project}.duckdb"


def lake_dir(data_dir: Path) -> Path:
    return data_dir / LAKE


def forecasts_dir(data_dir: Path) -> Path:
    return lake_dir(data_dir) / "ml" / "revenue_forecast"


def dashboards_dir(data_dir: Path) -> Path:
    return data_dir / DASHBOARDS
