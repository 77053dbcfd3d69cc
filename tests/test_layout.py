"""The top level is the product's specification, and every package is shaped the same way."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The specification's folders, and the platform's own (operations, libraries, benchmarks, tools,
# documentation, the cluster's generated manifests).
SPECIFIED = {"packages", "coordinator", "docker", "tests"}
PLATFORM = {"ops", "libs", "bench", "tools", "docs", "deploy"}
TEAMS = {"ingestion", "dbt_transform", "ml_forecast", "dashboards"}


def _tracked() -> list[str]:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    return [name for name in listed.stdout.decode().split("\0") if name]


def test_the_top_level_is_the_specified_one_plus_the_platforms_own_folders():
    folders = {name.split("/", 1)[0] for name in _tracked() if "/" in name and not name.startswith(".")}
    assert folders == SPECIFIED | PLATFORM
    assert (ROOT / "pyproject.toml").is_file()
    teams = {name.split("/")[1] for name in _tracked() if name.startswith("packages/")}
    assert teams >= TEAMS


def test_every_package_has_the_same_shape():
    from jaffle_contract import naming
    from jaffle_ops.workspace import packages

    for package in packages(ROOT):
        names = naming.of(package.package.name)
        for part in ("pyproject.toml", "README.md", "Dockerfile", f"src/{names.import_name}"):
            assert (package.package / part).exists(), f"{package.package.relative_to(ROOT)}/{part}"
        if package.deployments:
            assert (package.package / "prefect.yaml").is_file() and (package.package / "tests").is_dir()


def test_every_link_in_the_readme_and_the_docs_reaches_a_file():
    """The README is the newcomer's page and links to the reference in docs/: no link may lead
    nowhere (a section moved, a file renamed)."""
    import re

    pages = [ROOT / "README.md", ROOT / "SECURITY.md", *sorted((ROOT / "docs").glob("*.md"))]
    pages += [ROOT / name for name in _tracked() if name.endswith("README.md") and "/" in name]
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if target.startswith(("http://", "https://", "#", "mailto:")):
                continue
            if not (page.parent / target.split("#", 1)[0]).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not broken, broken
    assert len((ROOT / "README.md").read_text().splitlines()) <= 150  # reference belongs in docs/


# Paths the docs show that are examples, not files: the team `./dev new-team finance` would make.
EXAMPLE_PATHS = {"packages/finance/"}


def test_every_path_the_readme_and_the_docs_name_exists():
    """A path in backticks (from the root, or from the page's own folder) names a file or folder that
    exists; placeholders (`<team>`, `*`, `...`) are patterns, not paths."""
    import re

    pages = [ROOT / "README.md", ROOT / "SECURITY.md", *sorted((ROOT / "docs").glob("*.md"))]
    pages += [ROOT / name for name in _tracked() if name.endswith("README.md") and "/" in name]
    folders = "packages|coordinator|ops|libs|docker|tests|docs|tools|bench|deploy|\\.ci|\\.github"
    named = re.compile(rf"`((?:{folders})/[^`\s]*)`")
    missing = []
    for page in pages:
        for found in named.findall(page.read_text()):
            path = found.split("::")[0].split("#")[0].rstrip(".,:;")
            if path in EXAMPLE_PATHS or "..." in path or any(c in path for c in "<>*{}$"):
                continue
            if not (ROOT / path).exists() and not (page.parent / path).exists():
                missing.append(f"{page.relative_to(ROOT)}: {found}")
    assert not missing, missing


def test_every_command_the_readme_and_the_docs_show_is_one_the_cli_takes():
    """`./dev X` in any page: X is a command of ./dev (its own, or the operations CLI's)."""
    import argparse
    import re

    from jaffle_ops.cli import parser

    own = set()
    for arm in re.findall(r"^  ([a-z][a-z|-]*)\)", (ROOT / "dev").read_text(), re.MULTILINE):
        own |= set(arm.split("|"))
    cli = {
        name
        for action in parser()._actions
        if isinstance(action, argparse._SubParsersAction)
        for name in action.choices
    }
    pages = [ROOT / "README.md", ROOT / "SECURITY.md", *sorted((ROOT / "docs").glob("*.md"))]
    shown = {
        (page.name, command)
        for page in pages
        for command in re.findall(r"\./dev(?: --[a-z-]+ \S+)* ([a-z][a-z-]*)", page.read_text())
    }
    unknown = sorted((page, command) for page, command in shown if command not in own | cli)
    assert len(shown) > 20 and not unknown, unknown


@pytest.mark.parametrize(
    "folder",
    [
        "ops",
        "coordinator",
        *sorted(p.parent.relative_to(ROOT).as_posix() for p in ROOT.glob("libs/*/pyproject.toml")),
    ],
)
def test_a_platform_packages_readme_names_every_module_it_has(folder):
    """A package's README is its map: each module (and subpackage module) is named in it."""
    readme = (ROOT / folder / "README.md").read_text()
    [source] = (ROOT / folder / "src").iterdir() if (ROOT / folder / "src").is_dir() else []
    modules = sorted(
        path.relative_to(source).as_posix()
        for path in source.rglob("*.py")
        if path.name not in ("__init__.py", "__main__.py")
    )
    unnamed = [m for m in modules if f"`{m}`" not in readme and f"`{m.rsplit('/', 1)[-1]}`" not in readme]
    assert not unnamed, f"{folder}/README.md does not name {unnamed}"
