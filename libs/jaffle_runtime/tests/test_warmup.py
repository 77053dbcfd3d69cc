"""jaffle_runtime.warmup: Prefect's settings and logging made again for a run's environment."""

from __future__ import annotations

import subprocess
import sys

REMADE = """
import logging, os, sys
from pathlib import Path
from jaffle_runtime import warmup
env = {**os.environ, "PREFECT_LOGGING_EXTRA_LOGGERS": "teamlib"}
counts = []
for level in ("INFO", "DEBUG", "INFO", "DEBUG"):  # four runs whose settings differ from the last one's
    warmup.configure({**env, "PREFECT_LOGGING_LEVEL": level}, Path(sys.argv[1]))
    counts.append(len(logging.getLogger("teamlib").handlers))
print(counts, len(logging.getLogger("prefect.extra").handlers))
"""


def test_settings_made_again_leave_each_extra_logger_one_copy_of_prefects_handlers(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", REMADE, str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    counts, extra = done.stdout.split("]")
    assert counts.strip("[ ").split(", ") == [extra.strip()] * 4
