"""Where the ML team reads and writes, and how hard it works; read from `JAFFLE_*` variables."""

from __future__ import annotations

import os
from pathlib import Path

from jaffle_contract import datasets
from jaffle_contract.storage import DataSettings
from pydantic import Field


class MlSettings(DataSettings):
    """Reads the published warehouse and writes the forecasts under the platform's data root
    (`JAFFLE_DATA_DIR` or `JAFFLE_DATA_URL`: jaffle_contract.storage)."""

    # Processes statsforecast fits series in; default: every core this process may use.
    ml_n_jobs: int = Field(default_factory=lambda: len(os.sched_getaffinity(0)), ge=1)

    @property
    def warehouse_path(self) -> Path:
        """The dbt team's published warehouse, opened read-only (never the file dbt writes): a local
        copy when it lives on an object store."""
        assert self.work_dir is not None
        return self.storage.fetch(self.work_dir / "cache", datasets.warehouse_file())
