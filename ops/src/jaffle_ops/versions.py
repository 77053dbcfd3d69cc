"""The Prefect version rule: a team's client is the server's version or older, never newer.

Prefect's own rule is that clients must be the same version as the server or older: a newer client's
requests (a deployment with fields the server does not know) are rejected, or fail with a 422. Each
package's Prefect is the one its lock pins; the server's is the one the platform's own lock (ops', which
runs the server) pins, or, for a server this CLI did not start, the version its API reports. `deploy`
and `up` check every team they touch before they deploy any, so a team that moved ahead of the server
is refused by name with the command that fixes it, instead of failing half-way.

The version the platform's server and its own environments run is written once, in the root
pyproject's `[tool.jaffle] prefect`; `./dev upgrade prefect VERSION` moves it, and `--team` moves one
team's lock (see docs/upgrading.md). The oldest version the platform supports is written beside it, as
`prefect-oldest`: the compatibility tier runs the platform's runtime on both.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.version import Version

from jaffle_ops import admin
from jaffle_ops.errors import PlatformError
from jaffle_ops.local import Platform
from jaffle_ops.workspace import Team

PREFECT = "prefect"
OLDEST = "prefect-oldest"


def platform_version(root: Path) -> Version:
    """The Prefect the platform's server and its own environments run: its one home."""
    return _written(root, PREFECT, "the platform's Prefect version")


def oldest_version(root: Path) -> Version:
    """The oldest Prefect the platform supports (the compatibility tier's oldest environment)."""
    return _written(root, OLDEST, "the oldest Prefect the platform supports")


def _written(root: Path, key: str, meaning: str) -> Version:
    config = tomllib.loads((root / "pyproject.toml").read_text())
    written = config.get("tool", {}).get("jaffle", {}).get(key)
    if not written:
        raise PlatformError(f"pyproject.toml has no [tool.jaffle] {key}: {meaning}")
    return Version(written)


def locked(lock: Path, name: str = PREFECT) -> Version:
    """The version of `name` a lock pins."""
    try:
        text = lock.read_text()
    except FileNotFoundError:
        raise PlatformError(f"{lock} does not exist: run ./dev lock") from None
    found = re.search(rf"^{re.escape(name)}==(\S+)", text, re.MULTILINE)
    if not found:
        raise PlatformError(f"{lock} pins no {name}")
    return Version(found.group(1))


def team_version(team: Team) -> Version:
    return locked(team.package / "requirements.lock")


def server_version(platform: Platform) -> Version:
    """The version a running Prefect server reports (`GET /admin/version`), asked with the platform's
    own client (its secret, or a Cloud key where the API is Cloud's)."""
    import httpx  # Prefect's client errors (PrefectHTTPStatusError too) are httpx's

    try:
        with admin.client(platform) as client:
            return Version(client.api_version())
    except httpx.HTTPError as error:
        raise PlatformError(
            f"could not read the server's Prefect version at {platform.api_url}: {error}"
        ) from error


def ahead_of(server: Version, teams: list[Team]) -> list[tuple[Team, Version]]:
    """The teams whose locked Prefect is newer than the server's."""
    return [(team, version) for team in teams if (version := team_version(team)) > server]


def gate(server: Version, teams: list[Team]) -> None:
    """Refuse, before anything is deployed, every team whose Prefect is newer than the server's."""
    ahead = ahead_of(server, teams)
    if not ahead:
        return
    lines = [
        f"  {team.name}: locked to prefect {version}, newer than the server's {server}; fix with "
        f"`./dev upgrade prefect {version}` (the server first) or `./dev upgrade prefect {server} "
        f"--team {team.name}` (the team back on the server's)"
        for team, version in ahead
    ]
    raise PlatformError(
        "a team's Prefect may not be newer than the server's (clients are the server's version or older):\n"
        + "\n".join(lines)
    )
