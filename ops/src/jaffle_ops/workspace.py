"""The registry of packages: the workspace's hatch environments that name a package (`PLATFORM_PACKAGE`).

One package, one entry in the root pyproject.toml, and one name for its environment, folder, work
pool and image: the team packages under packages/, the coordinator (the parent flows) and ops (this
CLI, which has no deployments). A package's deployments and pools come from its folder's prefect.yaml.
The CLI, `affected`, the suite runner and the tests read packages from here; adding a team is adding
its environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jaffle_contract import contracts

from jaffle_ops.errors import PlatformError
from jaffle_ops.settings import OpsSettings

COORDINATOR = "coordinator"  # the parent flows: their pool is served after the teams'
OPS = "ops"  # this CLI: it runs the server, the Docker workers and the cross-team tests


def repo_root() -> Path:
    start = (OpsSettings().repo_root or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / "pyproject.toml").exists() and (folder / COORDINATOR).is_dir():
            return folder
    raise PlatformError(f"not inside the platform repository (looked upward from {start})")


@dataclass(frozen=True)
class Team:
    env: str  # hatch environment: the package's one name
    package: Path  # package folder (holding prefect.yaml if it deploys flows)

    @property
    def name(self) -> str:
        return self.env

    @property
    def deployments(self) -> list[dict[str, Any]]:
        spec = self.package / "prefect.yaml"
        if not spec.exists():
            return []
        return list(yaml.safe_load(spec.read_text()).get("deployments", []))

    @property
    def pools(self) -> list[str]:
        return sorted({d["work_pool"]["name"] for d in self.deployments})


def packages(root: Path) -> list[Team]:
    """Every package environment of the workspace: the teams, then the coordinator, then ops."""
    found = [Team(name, folder) for name, folder in contracts.workspace(root).items()]
    return sorted(found, key=lambda t: ({COORDINATOR: 1, OPS: 2}.get(t.env, 0), t.env))


def teams(root: Path) -> list[Team]:
    """The packages that deploy flows (every team and the coordinator), the coordinator's last."""
    return [t for t in packages(root) if t.deployments]
