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


def published_warehouse(data_dir: Path, project: str = "jaffle_shop") -> Path:
    """The published DuckDB file of a dbt project, the one readers open read-only."""
    return data_dir / WAREHOUSE / f"{project}.duckdb"


def lake_dir(data_dir: Path) -> Path:
    return data_dir / LAKE


def forecasts_dir(data_dir: Path) -> Path:
    return lake_dir(data_dir) / "ml" / "revenue_forecast"


def dashboards_dir(data_dir: Path) -> Path:
    return data_dir / DASHBOARDS
