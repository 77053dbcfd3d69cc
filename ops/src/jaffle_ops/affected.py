"""Which teams a change affects: from the changed files and what each team depends on.

- a file inside a team's folder (its source, tests, lock, Dockerfile, prefect.yaml) affects that team;
- `coordinator/` and `ops/` are packages of their own (the parent flows; this CLI);
- a platform library (`libs/<name>/`) affects the packages whose pyproject declares it, directly or
  through another library (jaffle-data declares jaffle-contract);
- root tooling (the workspace pyproject, `dev`, `tools/`, `.ci/`, the CI workflows, `docker/`,
  `.dockerignore`, the contract tests, the lint lock) is used by every team, so it affects all of them;
- the cross-team tests (`tests/`) run in ops' environment, so they are ops', and so are the cluster's
  manifests (`deploy/`), which ops generates and checks;
- documentation (`docs/`, Markdown) and benchmarks affect nobody's build.

Then the dataset graph: a change to what a team's data is made by (its source, its `datasets.toml`, its
dependencies: `src/`, `pyproject.toml`, its locks) affects every team that reads its datasets, directly
or through others, since their tests read fixtures made from its declarations; a change to how it is
packaged or tested (its Dockerfile, tests, README, prefect.yaml) affects that team alone; and a change
to the coordinator's run plan affects every team whose deployments the plan names, so each one's
contract tests run against it.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from jaffle_contract import contracts, deployments

from jaffle_ops.workspace import COORDINATOR, OPS, packages, teams

SHARED = (
    "pyproject.toml",
    "dev",
    "tools/",
    ".ci/",
    ".github/workflows/",
    "docker/",
    ".dockerignore",
    "tests/contract/",
    "libs/",  # a file beside the libraries, not in one of them
)
LIBRARIES = "libs/"
OPS_ONLY = ("tests/", "deploy/")
NOBODY = ("bench/", "docs/", ".github/CODEOWNERS")
PLAN = "coordinator/src/jaffle_coordinator/plan.py"
GRAPH = "coordinator/src/jaffle_coordinator/graph.json"  # the plan's order, generated from the datasets


@dataclass
class Affected:
    since: str
    changed: list[str]
    teams: list[str] = field(default_factory=list)
    reasons: dict[str, list[str]] = field(default_factory=dict)
    folders: dict[str, str] = field(default_factory=dict)  # every package's folder, for CI's matrix
    deployable: list[str] = field(default_factory=list)  # the affected packages that deploy flows
    # every package's CI services (its pyproject's `[tool.jaffle] ci-services`), for CI's matrix
    services: dict[str, list[str]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "since": self.since,
            "teams": self.teams,
            "folders": self.folders,
            "deployable": self.deployable,
            "services": self.services,
            "changed": self.changed,
            "reasons": self.reasons,
        }


def team_folders(root: Path) -> dict[str, str]:
    """Package (hatch environment) -> its folder, from the workspace's registry of packages."""
    return {team.env: team.package.relative_to(root).as_posix() for team in packages(root)}


def changed_files(root: Path, since: str) -> list[str]:
    """Files that differ between `since` and the working tree, plus new untracked files."""

    def git(*args: str) -> list[str]:
        result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
        if result.returncode != 0:
            raise ValueError(f"git {' '.join(args)} failed: {result.stderr.strip()}")
        return [line for line in result.stdout.splitlines() if line]

    # A clear error for an unknown ref. A tree is accepted too: CI passes git's empty tree on a
    # branch's first push, when every file is new.
    git("rev-parse", "--verify", f"{since}^{{tree}}")
    return sorted(
        set(git("diff", "--name-only", since)) | set(git("ls-files", "--others", "--exclude-standard"))
    )


def _under(path: str, prefix: str) -> bool:
    """`prefix` is a folder (ending in /) or one file."""
    if prefix.endswith("/"):
        return path.startswith(prefix)
    return path == prefix


def _requirement_names(project: Path) -> set[str]:
    """The distributions a pyproject declares, by normalized name (PEP 503)."""
    declared = tomllib.loads(project.read_text()).get("project", {}).get("dependencies", [])
    return {_normalized(re.split(r"[\s\[<>=!~;@(]", requirement, maxsplit=1)[0]) for requirement in declared}


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def library_users(root: Path, folders: dict[str, str]) -> dict[str, list[str]]:
    """Each platform library's folder (`libs/<name>`) -> the packages that declare it, directly or
    through another library: read from the pyprojects, the one place a package says what it imports."""
    libraries: dict[str, tuple[str, set[str]]] = {}
    for project in sorted(root.glob(f"{LIBRARIES}*/pyproject.toml")):
        name = tomllib.loads(project.read_text())["project"]["name"]
        folder = project.parent.relative_to(root).as_posix()
        libraries[_normalized(name)] = (folder, _requirement_names(project))
    users: dict[str, list[str]] = {folder: [] for folder, _ in libraries.values()}
    for team, folder in sorted(folders.items()):
        project = root / folder / "pyproject.toml"
        pending = sorted(_requirement_names(project) & set(libraries)) if project.exists() else []
        seen: set[str] = set()
        while pending:
            library = pending.pop()
            if library not in seen:
                seen.add(library)
                pending += sorted(libraries[library][1] & set(libraries))
        for library in sorted(seen):
            users[libraries[library][0]].append(team)
    return users


def classify(path: str, folders: dict[str, str], libraries: dict[str, list[str]] | None = None) -> list[str]:
    """The teams one changed file affects (`libraries`: what `library_users` returns)."""
    for team, folder in folders.items():
        if PurePosixPath(path).is_relative_to(folder):
            return [team]
    for library, users in (libraries or {}).items():
        if PurePosixPath(path).is_relative_to(library):
            return users
    if any(_under(path, prefix) for prefix in SHARED):
        return sorted(folders)
    if any(_under(path, prefix) for prefix in NOBODY) or path.endswith(".md"):
        return []
    if any(_under(path, prefix) for prefix in OPS_ONLY):
        return [team for team in folders if team == OPS]
    return sorted(folders)  # an unknown root file: assume everyone uses it


def planned_teams(root: Path) -> set[str]:
    """The teams whose deployments the coordinator's run plan names (`deployments.<NAME>` in plan.py,
    and every child of its graph.json)."""
    plan, graph = root / PLAN, root / GRAPH
    children = json.loads(graph.read_text())["children"] if graph.exists() else []
    if not plan.exists():
        return {child["team"] for child in children} - {COORDINATOR}
    named = {child["name"] for child in children} | {
        getattr(deployments, node.attr)
        for node in ast.walk(ast.parse(plan.read_text()))
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "deployments"
        and isinstance(getattr(deployments, node.attr, None), str)
    }
    return {team.env for team in teams(root) if named & {d["name"] for d in team.deployments}} - {COORDINATOR}


# What a team's data is made by, inside its folder: its source and its dependencies.
DATA_SHAPING = ("src/", "pyproject.toml", "requirements.lock", "runtime.lock")


def _shapes_data(path: str, folder: str) -> bool:
    """Whether a changed file can change what a team writes (root tooling and the libraries affect
    every team that uses them anyway)."""
    if not _under(path, folder + "/"):
        return not path.startswith(("coordinator/", "ops/"))  # shared files: as before, everyone
    inside = path[len(folder) + 1 :]
    return any(inside == name or inside.startswith(name) for name in DATA_SHAPING)


def affected(root: Path, since: str) -> Affected:
    folders = team_folders(root)
    result = Affected(
        since=since,
        changed=changed_files(root, since),
        folders=folders,
        services={team.env: team.ci_services for team in packages(root)},
    )
    libraries = library_users(root, folders)
    for path in result.changed:
        for team in classify(path, folders, libraries):
            result.reasons.setdefault(team, []).append(path)
    for plan in (PLAN, GRAPH):
        if plan in result.changed:
            for team in sorted(planned_teams(root) & set(folders)):
                result.reasons.setdefault(team, []).append(f"{plan} (the run plan calls {team})")
    declared = contracts.load_all(root)
    direct = sorted(
        team for team, paths in result.reasons.items() if any(_shapes_data(p, folders[team]) for p in paths)
    )
    for producer in direct:
        for reader in sorted(contracts.downstream(declared, [producer]) & set(folders) - set(direct)):
            result.reasons.setdefault(reader, []).append(f"downstream of {producer}'s datasets")
    result.teams = sorted(result.reasons)
    deploying = {team.env for team in teams(root)}
    result.deployable = [team for team in result.teams if team in deploying]
    return result
