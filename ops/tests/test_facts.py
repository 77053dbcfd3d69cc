"""Facts written once, and the copies that files which cannot import Python (Dockerfiles, compose,
pyproject.toml, prefect.yaml, the `dev` script, the docs) must keep, each held here to its one home:

- the Prefect release: the root pyproject's `[tool.jaffle] prefect` (the server's and the platform's own
  locks; a team's lock may lag it, ops/tests/test_versions.py); the requirement line is the
  coordinator's (`./dev new-team` copies it);
- the server's port: `settings.DEFAULT_PORT`;
- the images' user: `kubernetes_objects.IMAGE_UID`;
- the commands of `./dev` and their defaults: the CLI's parser.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import tomllib
from importlib.metadata import version
from pathlib import Path

from jaffle_ops import cli
from jaffle_ops.kubernetes_objects import IMAGE_UID, PREFECT_IMAGE
from jaffle_ops.settings import DEFAULT_PORT
from jaffle_ops.workspace import packages
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
PREFECT = version("prefect")


def _tracked(pattern: str) -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", pattern], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return [ROOT / name for name in listed.stdout.split()]


def _docs() -> list[Path]:
    """The pages people read: the README, SECURITY.md, docs/ and every package's README."""
    return sorted(
        {ROOT / "README.md", ROOT / "SECURITY.md", *(ROOT / "docs").glob("*.md"), *_tracked("*README.md")}
    )


def _prefect_requirement(pyproject: Path) -> Requirement:
    declared = [Requirement(line) for line in tomllib.loads(pyproject.read_text())["project"]["dependencies"]]
    [prefect] = [requirement for requirement in declared if requirement.name == "prefect"]
    return prefect


def test_every_package_requires_prefect_as_the_coordinator_does_and_its_lock_satisfies_that():
    home = _prefect_requirement(ROOT / "coordinator/pyproject.toml")
    assert home.specifier.contains(PREFECT), f"the locked prefect {PREFECT} is outside {home}"
    for package in packages(ROOT):
        assert _prefect_requirement(package.package / "pyproject.toml").specifier == home.specifier, (
            package.env
        )


def test_no_prefect_yaml_names_a_version_and_the_clusters_image_names_the_platforms():
    from jaffle_ops.versions import platform_version

    assert str(platform_version(ROOT)) == PREFECT  # this environment is the server's
    for package in packages(ROOT):
        if package.deployments:
            text = (package.package / "prefect.yaml").read_text()
            assert not re.findall(r"^prefect-version:", text, re.MULTILINE), package.env
    assert f":{PREFECT}-" in PREFECT_IMAGE


def test_the_compose_stack_serves_the_api_on_the_platforms_port():
    text = (ROOT / "docker/compose.yaml").read_text()
    found = re.findall(r'(?:PREFECT_PORT:-|"--port", "|//server:|127\.0\.0\.1:|\}:)(\d+)', text)
    assert len(found) >= 8 and set(found) == {str(DEFAULT_PORT)}, found


def test_the_docs_name_the_platforms_port_and_the_images_user():
    ports, users = [], []
    for page in _docs():
        text = page.read_text()
        ports += re.findall(r"(?:127\.0\.0\.1|localhost):(\d{4,5})\b", text)
        ports += re.findall(r"JAFFLE_PLATFORM_PORT` \((?:default )?(\d+)\)", text)
        users += re.findall(r"\b(?:uid|user) (\d{4,})\b", text)
    assert len(ports) >= 5 and set(ports) == {str(DEFAULT_PORT)}, ports
    assert len(users) >= 3 and set(users) == {str(IMAGE_UID)}, users


def test_the_images_are_built_with_the_user_the_pods_run_as():
    """docker/platform.Dockerfile takes the user as a build argument; its default is the one copy."""
    dockerfile = (ROOT / "docker/platform.Dockerfile").read_text()
    assert re.findall(r"^ARG JAFFLE_UID=(\d+)$", dockerfile, re.MULTILINE) == [str(IMAGE_UID)]
    assert re.search(r"^USER \$\{JAFFLE_UID\}:\$\{JAFFLE_UID\}$", dockerfile, re.MULTILINE)
    # A team's Dockerfile (and the one `./dev new-team` writes) says how to return to that user.
    written = [*_tracked("*Dockerfile"), ROOT / "ops/src/jaffle_ops/templates/new_team/Dockerfile.tmpl"]
    named = [uid for path in written for uid in re.findall(r"USER (\d+):\d+", path.read_text())]
    assert named and set(named) == {str(IMAGE_UID)}, named


def _commands() -> dict[str, argparse.ArgumentParser]:
    [commands] = [a for a in cli.parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(commands.choices)


def test_dev_hands_the_cli_exactly_its_commands_and_lists_each():
    dev = (ROOT / "dev").read_text()
    [arm] = re.findall(r"^  ([a-z|-]+)\) .*hatch run ops:cli \"\$cmd\"", dev, re.MULTILINE)
    assert sorted(arm.split("|")) == sorted(_commands())
    usage = dev.partition("<<'USAGE'")[2].partition("\nUSAGE")[0]
    # each entry: `  up | run | status ...` or `  images [TEAM...]   what it does`
    heads = [line.split("  ")[0] for line in re.findall(r"^  ([a-z].*)$", usage, re.MULTILINE)]
    listed = {word for head in heads for word in (head.split(" | ") if " | " in head else head.split()[:1])}
    assert set(_commands()) <= listed, sorted(set(_commands()) - listed)


def test_a_default_the_docs_show_is_the_clis():
    """`./dev backfill ... [--attempts 2]`: a number shown in brackets beside a flag is its default."""
    commands, checked = _commands(), []
    for page in _docs():
        for command, rest in re.findall(r"\./dev ([a-z-]+)(.*(?:\n {10,}\[.*)*)", page.read_text()):
            options = commands[command]._actions if command in commands else []
            defaults = {
                action.option_strings[0]: action.default for action in options if action.option_strings
            }
            for flag, shown in re.findall(r"\[(--[a-z-]+) (\d+(?:\.\d+)?)\]", rest):
                assert float(shown) == float(defaults[flag]), f"{page.name}: ./dev {command} {flag} {shown}"
                checked.append(flag)
    assert "--backoff-seconds" in checked, checked
