"""Where the ML team reads and writes, and how hard it works; read from `JAFFLE_*` variables."""

from __future__ import annotations

import math
import os
from pathlib import Path

from jaffle_contract import datasets
from jaffle_data.storage import DataSettings
from pydantic import Field

CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def usable_cpus(cpu_max: Path = CPU_MAX) -> int:
    """The cores this process may use: its affinity, capped by its cgroup's CPU limit (a container's or
    a pod's limit leaves every core of the machine in the affinity)."""
    count = len(os.sched_getaffinity(0))
    try:
        quota, period = cpu_max.read_text().split()
        if quota != "max":
            count = min(count, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):  # no cgroup v2 limit to read
        pass
    return count


class MlSettings(DataSettings):
    """Reads the published warehouse and writes the forecasts under the platform's data root
    (`JAFFLE_DATA_DIR` or `JAFFLE_DATA_URL`: jaffle_data.storage)."""

    # Processes statsforecast fits series in; default: every core this process may use.
    ml_n_jobs: int = Field(default_factory=lambda: usable_cpus(), ge=1)

    @property
    def warehouse_path(self) -> Path:
        """The dbt team's published warehouse, opened read-only (never the file dbt writes): a local
        copy when it lives on an object store."""
        assert self.work_dir is not None
        return self.storage.fetch(self.work_dir / "cache", datasets.warehouse_file())
