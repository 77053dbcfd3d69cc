"""jaffle_runtime.freshness: what a run's Prefect settings are made of, what a forked run cannot take
from its environment, and which files count as a change of the team's code."""

from __future__ import annotations

from jaffle_runtime import freshness


def test_the_settings_of_a_run_are_its_prefect_variables_less_the_per_run_ones_and_its_folders_files(
    tmp_path,
):
    env = {"PREFECT_API_URL": "http://x/api", "PREFECT__FLOW_RUN_ID": "1", "HOME": "/root"}
    assert freshness.settings_key(env, tmp_path) == (("PREFECT_API_URL", "http://x/api"),)
    assert freshness.settings_key({**env, "PREFECT__FLOW_RUN_ID": "2"}, tmp_path) == freshness.settings_key(
        env, tmp_path
    )
    (tmp_path / "prefect.toml").write_text("[logging]\nlevel = 'DEBUG'\n")
    assert freshness.settings_key(env, tmp_path) != freshness.settings_key(env, tmp_path.parent)


def test_the_settings_an_interpreter_reads_at_start_are_compared_and_tz_is_not():
    assert freshness.start_time_differences({"PYTHONPATH": "/x"}, {}) == ["PYTHONPATH"]
    assert freshness.start_time_differences({}, {"OMP_NUM_THREADS": "2"}) == ["OMP_NUM_THREADS"]
    assert freshness.start_time_differences({"TZ": "UTC", "PATH": "/x", "LD_X": "1"}, {"LD_X": "1"}) == []


def test_every_file_of_a_package_counts_as_a_change_but_bytecode_does_not(tmp_path):
    (tmp_path / "flows.py").write_text("")
    (tmp_path / "datasets.toml").write_text("")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "flows.cpython-311.pyc").write_text("")
    assert [p.name for p in freshness.files(tmp_path)] == ["datasets.toml", "flows.py"]
