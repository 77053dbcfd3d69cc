"""Where the dashboards team reads and writes; one place, read from the environment."""

from __future__ import annotations

from pathlib import Path

from jaffle_contract import datasets
from jaffle_data.storage import DataSettings


class DashboardSettings(DataSettings):
    """Reads the published warehouses and the forecasts, and writes the pages, under the platform's
    data root (`JAFFLE_DATA_DIR` or `JAFFLE_DATA_URL`: jaffle_data.storage)."""

    def warehouse(self, project: str = "jaffle_shop") -> Path:
        """A project's published warehouse, opened read-only: a local copy when it lives on an object
        store (a path that does not exist when nothing is published)."""
        assert self.work_dir is not None
        return self.storage.fetch(self.work_dir / "cache", datasets.warehouse_file(project))

    @property
    def output_dir(self) -> str:
        return datasets.DASHBOARDS
