"""The dbt runner's plain functions: arguments, the window handed to dbt, the docs' inputs."""

from __future__ import annotations

import json
from datetime import date

import pytest
from jaffle_dbt import runner
from jaffle_dbt.settings import DbtSettings


def test_the_window_reaches_dbt_once_as_json_vars(tmp_path, monkeypatch):
    monkeypatch.setenv("JAFFLE_DATA_DIR", str(tmp_path))
    args = runner.build_args("jaffle_shop", date(2024, 3, 1), date(2024, 3, 7), False, DbtSettings())
    assert args[0] == "build" and "--full-refresh" not in args
    window = json.loads(args[args.index("--vars") + 1])
    assert window == {"start_date": "2024-03-01", "end_date": "2024-03-07"}
    assert args[args.index("--project-dir") + 1] == str(runner.project_dir("jaffle_shop"))
    assert args[args.index("--target") + 1] == "local"


def test_a_full_refresh_says_so_and_a_reversed_window_never_reaches_dbt(tmp_path, monkeypatch):
    monkeypatch.setenv("JAFFLE_DATA_DIR", str(tmp_path))
    args = runner.build_args("attribution", date(2024, 3, 1), date(2024, 3, 1), True, DbtSettings())
    assert args[-1] == "--full-refresh"
    with pytest.raises(ValueError, match="end_date 2024-03-01 is before start_date 2024-03-02"):
        runner.build_args("attribution", date(2024, 3, 2), date(2024, 3, 1), False, DbtSettings())


def test_no_project_declares_a_default_window_of_its_own():
    for project in ("jaffle_shop", "attribution"):
        text = (runner.project_dir(project) / "dbt_project.yml").read_text()
        assert "start_date:" not in text and "end_date:" not in text, project
