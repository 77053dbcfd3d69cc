"""The CLI's answers when there is no server where it looks: each names the API and the way out."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def cli(tmp_path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "JAFFLE_API_URL")}
    return subprocess.run(
        [sys.executable, "-m", "jaffle_ops.cli", "--home", str(tmp_path), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**clean, **env},
    )


def test_deploy_with_no_local_server_points_at_up_and_at_an_ambient_prefect_api_url(tmp_path, dead_port):
    elsewhere = f"http://127.0.0.1:{dead_port}/api"
    out = cli(tmp_path, "--port", str(dead_port), "deploy", "ingestion", env={})
    assert out.returncode == 2
    assert f"no Prefect server at http://127.0.0.1:{dead_port}/api: run ./dev up first" in out.stderr
    assert "PREFECT_API_URL" not in out.stderr

    # A shell pointed at another API (e.g. a team's production server) gets told how to target it:
    # the CLI never follows an ambient PREFECT_API_URL on its own, so `./dev up` stays local.
    out = cli(
        tmp_path, "--port", str(dead_port), "deploy", "ingestion", env={"PREFECT_API_URL": elsewhere + "x"}
    )
    assert out.returncode == 2
    assert f'target PREFECT_API_URL ({elsewhere}x) with --api-url "$PREFECT_API_URL"' in out.stderr


def test_deploy_to_an_api_that_is_down_names_it(tmp_path, dead_port):
    api = f"http://127.0.0.1:{dead_port}/api"
    for how in (["--api-url", api], []):
        out = cli(tmp_path, *how, "deploy", "ml-forecast", env={} if how else {"JAFFLE_API_URL": api})
        assert out.returncode == 2
        assert out.stderr.strip() == f"error: no Prefect server at {api}: is it up?"


def test_an_unknown_team_is_named_with_the_known_ones(tmp_path):
    out = cli(tmp_path, "deploy", "finance", env={})
    assert out.returncode == 2
    assert "unknown package(s) ['finance']" in out.stderr and "'ingestion'" in out.stderr


def test_an_api_that_refuses_the_secret_is_named_with_what_to_do():
    import httpx
    from jaffle_ops.cli import refusal

    request = httpx.Request("POST", "http://127.0.0.1:4200/api/deployments/filter")
    cases = ((401, "did not take the secret"), (403, "JAFFLE_API_AUTH_STRING"), (404, "deploy first"))
    for status, says in cases:
        error = httpx.HTTPStatusError("x", request=request, response=httpx.Response(status, request=request))
        message = refusal(error)
        assert f"answered {status} to POST http://127.0.0.1:4200/api/deployments/filter" in message
        assert says in message, message


def test_land_names_a_folder_with_nothing_to_land_before_it_copies_or_runs_anything(tmp_path, dead_port):
    empty = tmp_path / "exports"
    empty.mkdir()
    (empty / "notes.txt").write_text("not an export")
    out = cli(
        tmp_path,
        "--port",
        str(dead_port),
        "land",
        str(empty),
        "--start",
        "2024-03-01",
        "--end",
        "2024-03-02",
        env={},
    )
    assert out.returncode == 2
    assert out.stderr.strip() == f"error: {empty} holds no .csv or .parquet files to land"
    assert not (tmp_path / "data" / "landing").exists()


def test_land_without_dates_needs_a_folder_to_read_them_from(tmp_path, dead_port):
    out = cli(tmp_path, "--port", str(dead_port), "land", env={})
    assert out.returncode == 2
    assert out.stderr.strip() == "error: without --start and --end, name the folder whose files' days to land"


def test_every_command_the_parser_takes_names_the_function_that_runs_it():
    """The parser is the commands' one list: `main` runs the handler each command's parser names."""
    import argparse

    from jaffle_ops.cli import parser

    [commands] = [a for a in parser()._actions if isinstance(a, argparse._SubParsersAction)]
    assert len(commands.choices) > 10
    for name, command in commands.choices.items():
        handler = command.get_default("handler")
        assert callable(handler) and handler.__name__.startswith("cmd_"), name


@pytest.mark.parametrize("command", ["run", "demo"])
@pytest.mark.parametrize(
    ("days", "says"),
    [("0", "at least 1 day, not 0"), ("-3", "at least 1 day, not -3"), ("x", "not a whole number: 'x'")],
)
def test_days_below_one_are_refused_naming_the_option(command, days, says, capsys):
    from jaffle_ops.cli import parser

    with pytest.raises(SystemExit) as refused:
        parser().parse_args([command, "--days", days])
    assert refused.value.code == 2
    assert f"argument --days: {says}" in capsys.readouterr().err


def test_one_day_is_taken():
    from jaffle_ops.cli import parser

    assert parser().parse_args(["run", "--days", "1"]).days == 1
