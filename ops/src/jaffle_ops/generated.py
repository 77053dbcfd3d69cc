"""The files made from the workspace's registry: never edited by hand, checked by `./dev generate
--check` (and a test), rewritten by `./dev generate`.

- `.github/CODEOWNERS`: a line per package folder, its owner named after the team (`naming.owner`);
  the platform team owns the rest.
- `docker/compose.yaml`, between `# BEGIN workers` and `# END workers`: one Docker worker per team pool.
- `deploy/kubernetes/`: the cluster's manifests (`kubernetes.manifests`).
- `coordinator/src/jaffle_coordinator/graph.json`: the parent's plan, from the declared datasets
  (`dataset_graph`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from jaffle_contract import naming

from jaffle_ops import dataset_graph
from jaffle_ops.errors import PlatformError
from jaffle_ops.workspace import Team, packages, teams

PLATFORM_OWNER = f"@{naming.PREFIX}/platform"
# Folders the platform team owns beside the root (named so a reviewer sees them).
PLATFORM_FOLDERS = ("docker/", "libs/", "tests/", "bench/", "tools/", "deploy/", "docs/")
HEADER = "# Generated from the root pyproject.toml's registry by `./dev generate`: do not edit.\n"
CODEOWNERS = ".github/CODEOWNERS"
COMPOSE = "docker/compose.yaml"
KUBERNETES = "deploy/kubernetes"
BEGIN, END = "# BEGIN workers\n", "# END workers\n"


def owner(team: Team, root: Path) -> str:
    """A team package's owner is its team; the coordinator and ops are the platform team's."""
    inside = team.package.relative_to(root).parts
    return naming.of(team.package.name).owner if inside[0] == "packages" else PLATFORM_OWNER


def codeowners(root: Path) -> str:
    width = max(len(f"/{t.package.relative_to(root).as_posix()}/") for t in packages(root)) + 2
    lines = [HEADER, "# The platform team owns the root and every folder no team owns.\n"]
    lines.append(f"{'*':<{width}}{PLATFORM_OWNER}\n")
    for team in packages(root):
        lines.append(f"{'/' + team.package.relative_to(root).as_posix() + '/':<{width}}{owner(team, root)}\n")
    lines += [f"{'/' + folder:<{width}}{PLATFORM_OWNER}\n" for folder in PLATFORM_FOLDERS]
    return "".join(lines)


def compose_workers(root: Path) -> str:
    """The worker services of docker/compose.yaml: one per team pool, on ops' image."""
    lines = [
        BEGIN,
        "  # One worker per team work pool. " + HEADER[2:],
    ]
    for team in teams(root):
        names = naming.of(team.package.name)
        command = ["prefect", "worker", "start", "--pool", names.pool, "--type", "docker"]
        command += ["--name", f"{names.team}-stack"]
        lines += [
            f"  {names.compose_service}:\n",
            "    <<: *worker\n",
            "    command: [" + ", ".join(f'"{word}"' for word in command) + "]\n",
        ]
    return "".join([*lines, END])


def compose(root: Path) -> str:
    text = (root / COMPOSE).read_text()
    if text.count(BEGIN) != 1 or text.count(END) != 1:
        raise PlatformError(f"{COMPOSE} must hold one '{BEGIN.strip()}' and one '{END.strip()}' line")
    head, _, rest = text.partition(BEGIN)
    return head + compose_workers(root) + rest.partition(END)[2]


def files(root: Path) -> dict[str, Callable[[], str]]:
    """Every generated file (path relative to the root) and how to make it."""
    from jaffle_ops import kubernetes

    made: dict[str, Callable[[], str]] = {
        CODEOWNERS: lambda: codeowners(root),
        COMPOSE: lambda: compose(root),
        dataset_graph.GRAPH: lambda: dataset_graph.render(root),
    }
    manifests = kubernetes.render([team.name for team in teams(root)])
    for name, text in manifests.items():
        made[f"{KUBERNETES}/{name}"] = lambda text=text: text  # type: ignore[misc]
    return made


def stale(root: Path) -> list[str]:
    """The generated files that differ from what the registry makes (or are missing, or left over)."""
    made = files(root)
    found = [path for path, make in made.items() if _read(root / path) != make()]
    leftover = sorted(
        p.relative_to(root).as_posix()
        for p in (root / KUBERNETES).glob("*.yaml")
        if p.relative_to(root).as_posix() not in made
    )
    return sorted(found + leftover)


def write(root: Path) -> list[str]:
    """Rewrite every stale generated file; remove manifests no team makes any more."""
    changed = stale(root)
    made = files(root)
    for path in changed:
        if path in made:
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_text(made[path]())
        else:
            (root / path).unlink()
    return changed


def _read(path: Path) -> str | None:
    return path.read_text() if path.exists() else None
