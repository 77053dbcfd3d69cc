"""The dbt runner's plain functions: arguments, the window handed to dbt, the docs' inputs."""

from __future__ import annotations

import time
from datetime import date

import pytest
from dbt.cli.main import dbtRunner
from jaffle_dbt_transform import runner
from jaffle_dbt_transform.settings import DbtSettings


def test_the_window_reaches_dbt_once_in_the_builds_environment_never_in_its_vars(tmp_path, monkeypatch):
    monkeypatch.setenv("JAFFLE_DATA_DIR", str(tmp_path))
    args = runner.build_args("jaffle_shop", False, DbtSettings())
    assert args[0] == "build" and "--full-refresh" not in args and "--vars" not in args
    assert runner.window_environment(date(2024, 3, 1), date(2024, 3, 7)) == {
        "JAFFLE_WINDOW_START": "2024-03-01",
        "JAFFLE_WINDOW_END": "2024-03-07",
    }
    assert args[args.index("--project-dir") + 1] == str(runner.project_dir("jaffle_shop"))
    assert args[args.index("--target") + 1] == "local"
    macro = (runner.PROJECTS_DIR / "macros" / "run_window.sql").read_text()
    assert all(f'env_var("{name}", "") if execute' in macro for name in runner.WINDOW_ENV)


def test_a_full_refresh_says_so_and_a_reversed_window_never_reaches_dbt(tmp_path, monkeypatch):
    monkeypatch.setenv("JAFFLE_DATA_DIR", str(tmp_path))
    args = runner.build_args("attribution", True, DbtSettings())
    assert args[-1] == "--full-refresh"
    with pytest.raises(ValueError, match="end_date 2024-03-01 is before start_date 2024-03-02"):
        runner.window_environment(date(2024, 3, 2), date(2024, 3, 1))


def test_dbt_keeps_its_parsed_manifest_across_windows(data_dir):
    log = DbtSettings().artifacts_dir("jaffle_shop") / "logs" / "dbt.log"
    runner.run("jaffle_shop", date(2020, 3, 1), date(2020, 3, 1), docs=False)
    first = log.read_text()
    assert "Unable to do partial parsing because saved manifest not found" in first
    runner.run("jaffle_shop", date(2020, 3, 2), date(2020, 3, 2), docs=False)

    def reporting(args):  # an invoker that reports for a second after dbt ended, as prefect-dbt's does
        result = dbtRunner().invoke(args)
        time.sleep(1.0)
        return result

    outcome = runner.run("jaffle_shop", date(2020, 3, 1), date(2020, 3, 2), docs=False, invoke=reporting)
    # Each phase timed on its own: a build says where its time went (no PostgreSQL load, no docs here).
    assert list(outcome.seconds) == ["parse", "execute", "report", "publish"]
    assert outcome.seconds["execute"] > 0 and outcome.seconds["parse"] > 0
    assert outcome.seconds["report"] >= 1.0  # the invoker's wrap-up, not counted as dbt's parse
    later = log.read_text()[len(first) :]
    assert "Unable to do partial parsing" not in later, later[:2000]
    assert later.count("Running with dbt=") == 2


def test_no_project_declares_a_default_window_of_its_own():
    for project in ("jaffle_shop", "attribution"):
        text = (runner.project_dir(project) / "dbt_project.yml").read_text()
        assert "start_date:" not in text and "end_date:" not in text, project
