"""jaffle_ops.commands.runs on its own, without a Prefect server: the windows and options `run`,
`backfill` and `run --resume` send, and what they refuse before they trigger anything. (test_gridview.py
covers the backfill flags; test_cli.py `land`'s folder check.)"""

from __future__ import annotations

import socket
from datetime import date, timedelta
from pathlib import Path

import pytest
from jaffle_ops.cli import parser
from jaffle_ops.commands import runs
from jaffle_ops.errors import PlatformError
from jaffle_ops.local import Platform

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def platform(tmp_path):
    """A local platform whose server is not up (its port refuses connections)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield Platform(root=ROOT, home=tmp_path / "home", port=s.getsockname()[1])


def test_resume_refuses_a_window_of_its_own(platform):
    args = parser().parse_args(["run", "--resume", "0b5e0d5e-0000-4000-8000-000000000000", "--days", "3"])
    with pytest.raises(PlatformError, match="--resume reruns a run with its own window: drop --start, --end"):
        runs.cmd_run(platform, args)


def test_days_count_back_from_the_end_and_a_missing_server_is_named(platform):
    args = parser().parse_args(["run", "--days", "3", "--end", "2024-03-10"])
    with pytest.raises(PlatformError, match=f"no Prefect server at {platform.api_url}: run ./dev up first"):
        runs.cmd_run(platform, args)
    assert (args.start, args.end) == (date(2024, 3, 8), date(2024, 3, 10))

    args = parser().parse_args(["run", "--days", "1"])  # no end: up to yesterday
    with pytest.raises(PlatformError, match="no Prefect server"):
        runs.cmd_run(platform, args)
    assert args.start == args.end == date.today() - timedelta(days=1)


def test_a_window_that_ends_before_it_starts_is_refused_before_the_server_is_asked(platform):
    for command, argv in (
        (runs.cmd_run, ["run", "--start", "2024-03-10", "--end", "2024-03-01"]),
        (runs.cmd_backfill, ["backfill", "--start", "2024-03-10", "--end", "2024-03-01"]),
    ):
        with pytest.raises(ValueError, match="end_date 2024-03-01 is before start_date 2024-03-10"):
            command(platform, parser().parse_args(argv))


def test_resume_without_a_server_names_it(platform):
    with pytest.raises(PlatformError, match="no Prefect server"):
        runs.cmd_resume(platform, "not-a-uuid")


def test_a_malformed_cap_is_named_before_the_server_is_asked(platform):
    args = parser().parse_args(
        ["backfill", "--start", "2024-03-01", "--end", "2024-03-02", "--cap", "ingestion=x"]
    )
    with pytest.raises(PlatformError, match=r"--cap takes TEAM=N .*not 'ingestion=x'"):
        runs.cmd_backfill(platform, args)


def test_ingest_from_takes_the_contracts_grammar_and_names_a_bad_pair():
    assert parser().parse_args(["run", "--ingest-from", "jaffle_shop:landing"]).ingest_from == {
        "jaffle_shop": "landing"
    }
    assert parser().parse_args(["demo", "--ingest-from", "landing"]).ingest_from == {
        "jaffle_shop": "landing",
        "marketing": "landing",
    }


def test_ingest_from_names_the_bad_pair(capsys):
    with pytest.raises(SystemExit):
        parser().parse_args(["run", "--ingest-from", "jaffle_shop:landing,shop:files"])
    assert "--ingest-from='jaffle_shop:landing,shop:files': 'shop:files' is not <source>:<kind>" in (
        capsys.readouterr().err
    )
