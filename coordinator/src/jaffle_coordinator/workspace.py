"""The registry of teams: the workspace's hatch environments that name a package (`PLATFORM_PACKAGE`).

One team, one entry in the root pyproject.toml: its environment (the team's name), its folder, and,
from that folder's prefect.yaml, its work pools and deployments. The CLI, `affected` and the suite
runner read teams from here; adding a team is adding its environment.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

import yaml

from jaffle_coordinator.errors import PlatformError

COORDINATOR_ENV = "platform"


def repo_root() -> Path:
    start = Path(os.environ.get("JAFFLE_REPO_ROOT", Path.cwd())).resolve()
    for folder in (start, *start.parents):
        if (folder / "pyproject.toml").exists() and (folder / "coordinator").is_dir():
            return folder
    raise PlatformError(f"not inside the platform repository (looked upward from {start})")


@dataclass(frozen=True)
class Team:
    env: str  # hatch environment: the team's name
    package: Path  # package folder holding prefect.yaml

    @property
    def deployments(self) -> list[dict]:
        return list(yaml.safe_load((self.package / "prefect.yaml").read_text()).get("deployments", []))

    @property
    def pools(self) -> list[str]:
        return sorted({d["work_pool"]["name"] for d in self.deployments})


def teams(root: Path) -> list[Team]:
    """Every team environment of the workspace, the coordinator's last."""
    envs = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["hatch"]["envs"]
    found = [
        Team(name, root / env["env-vars"]["PLATFORM_PACKAGE"])
        for name, env in envs.items()
        if "PLATFORM_PACKAGE" in env.get("env-vars", {})
    ]
    return sorted(found, key=lambda t: (t.env == COORDINATOR_ENV, t.env))
