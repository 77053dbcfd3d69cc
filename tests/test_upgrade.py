"""`./dev upgrade prefect`: team by team, never a team ahead of the server, and nothing half-done.

The move is made for real (uv re-resolves the lock) in a copy of this repository: one team goes back
to an older Prefect while every other lock stays as it was, and the locks still match their inputs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from jaffle_ops import versions

ROOT = Path(__file__).resolve().parents[1]


def _pins(lock: Path) -> dict[str, str]:
    return dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", lock.read_text(), re.MULTILINE))


def _home(root: Path) -> str:
    return re.search(r'(?m)^prefect = "([^"]+)"', (root / "pyproject.toml").read_text()).group(1)


def _upgrade(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "JAFFLE_REPO_ROOT": str(root), "JAFFLE_PLATFORM_PORT": "9"}  # no platform there
    return subprocess.run(
        [sys.executable, "-m", "jaffle_ops", "upgrade", "prefect", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def _locks(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.glob("**/requirements.lock"))}


def test_a_team_may_not_lead_the_server_and_the_server_may_not_fall_behind_a_team():
    home = _home(ROOT)
    before = _locks(ROOT)
    ahead = _upgrade(ROOT, "99.0.0", "--team", "ml-forecast")
    assert ahead.returncode != 0
    assert f"ml-forecast may not lead the server: prefect 99.0.0 is newer than the platform's {home}" in (
        ahead.stderr
    )
    oldest = str(versions.oldest_version(ROOT))  # supported, but older than what every team runs
    behind = _upgrade(ROOT, oldest)
    assert behind.returncode != 0 and f"prefect {oldest} is older than what" in behind.stderr
    assert "ml-forecast" in behind.stderr and "a team may not be newer than the server" in behind.stderr
    assert _upgrade(ROOT, "three").stderr.strip().endswith("'three' is not a version (e.g. 3.9.1)")
    too_old = _upgrade(ROOT, "3.0.0", "--team", "ml-forecast")
    assert too_old.returncode != 0 and "older than the oldest the platform supports" in too_old.stderr
    assert _home(ROOT) == home and _locks(ROOT) == before  # refused before anything was written


def test_one_team_moves_while_the_others_stay(repository_copy):
    older = str(versions.oldest_version(repository_copy))
    assert _home(repository_copy) != older, "the platform runs it: pick an older release for this test"
    before = {p: _pins(repository_copy / p) for p in _locks(repository_copy)}
    moved = _upgrade(repository_copy, older, "--team", "ml_forecast", "--no-tests")
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert (
        f"prefect: {before['packages/ml_forecast/requirements.lock']['prefect']} -> {older}" in moved.stdout
    )
    assert "canary      no platform at" in moved.stdout  # none is up on that port: said, not run
    for path, pins in before.items():
        now = _pins(repository_copy / path)
        if path.startswith("packages/ml_forecast/"):
            assert now["prefect"] == older
        else:
            assert now == pins, f"{path} changed"
    runtime = _pins(repository_copy / "packages/ml_forecast/runtime.lock")
    assert runtime["prefect"] == older
    check = subprocess.run(
        [sys.executable, "tools/lock.py", "--check"], cwd=repository_copy, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr  # the team's older lock keeps to the rule
