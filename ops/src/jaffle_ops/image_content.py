"""What goes into a team's image, and the tag and labels that name it (no Docker engine needed).

A team's image tag is a hash of everything that goes into it: its folder (source, lock, Dockerfile), the
platform's libraries every image carries, the platform's recipe files and the base image's id. A team
whose files did not change keeps its tag.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import tomllib
from pathlib import Path

from jaffle_contract import naming

from jaffle_ops.errors import PlatformError

# The platform's recipe: the base images every team's Dockerfile builds on.
PLATFORM_DOCKERFILE = "docker/platform.Dockerfile"
SHARED = (".dockerignore", "docker/no-extra-ca.crt", "docker/install-lock.sh", PLATFORM_DOCKERFILE)
# Folders every team image copies beside the team's own (the platform's libraries: `COPY libs/`).
SHARED_FOLDERS = ("libs",)
# What `content_tag` makes, and what `prune` may remove.
CONTENT_TAG = re.compile(r"[0-9a-f]{12}")
IGNORED_PARTS = {"__pycache__", ".pytest_cache", ".ruff_cache", "target", "logs", ".venv"}


def _files(root: Path, folder: Path) -> list[Path]:
    """The files of a folder that git tracks (or would), so caches and build output never count."""
    listed = subprocess.run(
        [
            "git",
            "ls-files",
            "--cached",
            "--others",
            "--exclude-standard",
            "-z",
            str(folder.relative_to(root)),
        ],
        cwd=root,
        capture_output=True,
        check=False,
    )
    if listed.returncode == 0:
        names = [n for n in listed.stdout.decode().split("\0") if n]
        return sorted(root / n for n in names if (root / n).is_file())
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and not IGNORED_PARTS & set(p.relative_to(folder).parts)
    )


def package_version(folder: Path) -> str:
    """The version a team package declares in its pyproject.toml."""
    return str(tomllib.loads((folder / "pyproject.toml").read_text())["project"]["version"])


def dockerfile_of(root: Path, folder: Path) -> Path:
    """The team's own Dockerfile (every package that has an image has one)."""
    own = folder / "Dockerfile"
    if not own.is_file():
        raise PlatformError(
            f"{own.relative_to(root)} is missing: every package's image is built from its own Dockerfile "
            "(./dev new-team writes one; see docker/README.md)"
        )
    return own


def import_name(folder: Path) -> str:
    """The team package's import name, from its wheel target (`src/<import name>`)."""
    config = tomllib.loads((folder / "pyproject.toml").read_text())
    return Path(config["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"][0]).name


def content_tag(root: Path, folder: Path, base_id: str) -> str:
    """sha256 of the team folder, the shared library, the shared recipe files and the base image id
    (first 12 hex)."""
    digest = hashlib.sha256(base_id.encode())
    shared = [path for name in SHARED_FOLDERS for path in _files(root, root / name)]
    for path in [*_files(root, folder), *shared, *(root / s for s in SHARED)]:
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def image_name(team: str) -> str:
    return naming.of(naming.normalise(team)).image


def source_revision(root: Path, folder: Path) -> str:
    """The last commit that changed this image's inputs, `-dirty` if they have uncommitted changes.

    Commits that touch other teams leave it alone, so an unchanged team keeps its image, label and all.
    """
    paths = [str(folder.relative_to(root)), *SHARED]

    def git(*args: str) -> str:
        found = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
        return found.stdout.strip() if found.returncode == 0 else ""

    revision = git("log", "-1", "--format=%H", "--", *paths) or "unknown"
    return revision + ("-dirty" if git("status", "--porcelain", "--", *paths) else "")
