"""The Prefect version rule against a real server: a team locked newer than the server is refused by
name before anything is deployed; one on the server's version or older passes."""

from __future__ import annotations

from importlib.metadata import version as installed
from pathlib import Path

import pytest
from jaffle_ops import versions
from jaffle_ops.errors import PlatformError
from jaffle_ops.local import Platform
from jaffle_ops.workspace import Team
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]


def _team(tmp_path, name: str, prefect: str) -> Team:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "requirements.lock").write_text(
        f"pandas==2.3.3 \\\n    --hash=sha256:00\nprefect=={prefect} \\\n"
    )
    return Team(name, folder)


def test_a_team_newer_than_the_server_is_refused_by_name_and_the_others_pass(platform_server, tmp_path):
    api, _log = platform_server
    server = versions.server_version(Platform(root=ROOT, home=tmp_path / "home", port=1, remote_api_url=api))
    assert server == Version(installed("prefect"))  # the server this environment runs
    older = _team(tmp_path, "ingestion", "3.0.0")
    same = _team(tmp_path, "coordinator", str(server))
    ahead = _team(tmp_path, "ml-forecast", f"{server.major}.{server.minor + 1}.0")
    versions.gate(server, [older, same])
    with pytest.raises(PlatformError) as refused:
        versions.gate(server, [older, ahead, same])
    message = str(refused.value)
    assert "ml-forecast: locked to prefect" in message and str(server) in message
    assert f"{server.major}.{server.minor + 1}.0" in message
    assert "--team ml-forecast" in message and "ingestion" not in message and "coordinator" not in message


def test_the_platforms_version_has_one_home_and_every_lock_keeps_to_it():
    from jaffle_ops.workspace import packages, repo_root

    root = repo_root()
    home = versions.platform_version(root)
    for package in packages(root):
        pinned = versions.team_version(package)
        if package.package.parent.name == "packages":
            assert pinned <= home, f"{package.name} runs prefect {pinned}, newer than the server's {home}"
        else:  # the platform's own: the server (ops) and the parent flows
            assert pinned == home, f"{package.name} runs prefect {pinned}, not the platform's {home}"


def test_a_lock_without_prefect_or_a_missing_lock_is_a_clear_error(tmp_path):
    (tmp_path / "requirements.lock").write_text("pandas==2.3.3\n")
    with pytest.raises(PlatformError, match="pins no prefect"):
        versions.locked(tmp_path / "requirements.lock")
    with pytest.raises(PlatformError, match=r"does not exist: run \./dev lock"):
        versions.locked(tmp_path / "missing.lock")
