"""The warm launcher's rules, without a server: what a run's settings are made of, what a forked run
cannot take from its environment, and which generators it reseeds."""

from __future__ import annotations

import subprocess
import sys

from jaffle_runtime import launcher


def test_the_settings_of_a_run_are_its_prefect_variables_less_the_per_run_ones_and_its_folders_files(
    tmp_path,
):
    env = {"PREFECT_API_URL": "http://x/api", "PREFECT__FLOW_RUN_ID": "1", "HOME": "/root"}
    assert launcher.settings_key(env, tmp_path) == (("PREFECT_API_URL", "http://x/api"),)
    assert launcher.settings_key({**env, "PREFECT__FLOW_RUN_ID": "2"}, tmp_path) == launcher.settings_key(
        env, tmp_path
    )
    (tmp_path / "prefect.toml").write_text("[logging]\nlevel = 'DEBUG'\n")
    assert launcher.settings_key(env, tmp_path) != launcher.settings_key(env, tmp_path.parent)


REMADE = """
import logging, os, sys
from pathlib import Path
from jaffle_runtime import launcher
env = {**os.environ, "PREFECT_LOGGING_EXTRA_LOGGERS": "teamlib"}
counts = []
for level in ("INFO", "DEBUG", "INFO", "DEBUG"):  # four runs whose settings differ from the last one's
    launcher._configure({**env, "PREFECT_LOGGING_LEVEL": level}, Path(sys.argv[1]))
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


def test_the_generators_a_run_imported_are_seeded_afresh(monkeypatch):
    import types

    seeded = []
    numpy_random = types.SimpleNamespace(seed=lambda: seeded.append("numpy"))
    faker_generator = types.SimpleNamespace(random=types.SimpleNamespace(seed=lambda: seeded.append("faker")))
    monkeypatch.setitem(sys.modules, "numpy.random", numpy_random)
    monkeypatch.setitem(sys.modules, "faker.generator", faker_generator)
    launcher._reseed()
    assert seeded == ["numpy", "faker"]


def test_the_settings_an_interpreter_reads_at_start_are_compared_and_tz_is_not():
    assert launcher.start_time_differences({"PYTHONPATH": "/x"}, {}) == ["PYTHONPATH"]
    assert launcher.start_time_differences({}, {"OMP_NUM_THREADS": "2"}) == ["OMP_NUM_THREADS"]
    assert launcher.start_time_differences({"TZ": "UTC", "PATH": "/x", "LD_X": "1"}, {"LD_X": "1"}) == []


def test_every_file_of_a_package_counts_as_a_change_but_bytecode_does_not(tmp_path):
    (tmp_path / "flows.py").write_text("")
    (tmp_path / "datasets.toml").write_text("")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "flows.cpython-311.pyc").write_text("")
    assert [p.name for p in launcher._files(tmp_path)] == ["datasets.toml", "flows.py"]
