"""The registry of packages: the workspace's hatch environments that name a package (`PLATFORM_PACKAGE`).

One package, one entry in the root pyproject.toml, and one name for its environment, folder, work
pool and image: the team packages under packages/, the coordinator (the parent flows) and ops (this
CLI, which has no deployments). A package's deployments and pools come from its folder's prefect.yaml.
The CLI, `affected`, the suite runner and the tests read packages from here; adding a team is adding
its environment.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jaffle_contract import contracts, naming

from jaffle_ops.errors import PlatformError
from jaffle_ops.settings import OpsSettings

# What one flow run may use on a cluster unless the team's pyproject.toml says otherwise.
DEFAULT_RUN_RESOURCES = {
    "cpu_request": "500m",
    "memory_request": "1Gi",
    "cpu_limit": "1",
    "memory_limit": "2Gi",
}
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

    @property
    def settings(self) -> dict[str, Any]:
        """What the team sets for the platform: its package's `[tool.jaffle]` table."""
        project = self.package / "pyproject.toml"
        config = tomllib.loads(project.read_text()) if project.exists() else {}
        return dict(config.get("tool", {}).get("jaffle", {}))

    @property
    def run_resources(self) -> dict[str, str]:
        """What one flow run of the team may use on a cluster, requested and at most."""
        return {**DEFAULT_RUN_RESOURCES, **self.settings.get("run-resources", {})}

    @property
    def ci_services(self) -> list[str]:
        """The services its tests need in CI beside the runner (`postgres`)."""
        return list(self.settings.get("ci-services", []))


def packages(root: Path) -> list[Team]:
    """Every package environment of the workspace: the teams, then the coordinator, then ops."""
    found = [Team(name, folder) for name, folder in contracts.workspace(root).items()]
    return sorted(found, key=lambda t: ({COORDINATOR: 1, OPS: 2}.get(t.env, 0), t.env))


def package(root: Path, name: str) -> Team:
    """The package called `name` (or named by its folder: `dbt_transform` is `dbt-transform`)."""
    wanted = naming.normalise(name)
    for found in packages(root):
        if naming.normalise(found.env) == wanted:
            return found
    known = ", ".join(t.env for t in packages(root))
    raise PlatformError(f"no package {name!r} in the workspace (known: {known})")


def teams(root: Path) -> list[Team]:
    """The packages that deploy flows (every team and the coordinator), the coordinator's last."""
    return [t for t in packages(root) if t.deployments]
