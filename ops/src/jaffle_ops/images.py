"""Team images: a content-hash tag per team, incremental builds with the Docker SDK.

Each team's image is built from its own Dockerfile (`<folder>/Dockerfile`) on the platform's two base
images (`docker/platform.Dockerfile`: where locks are installed, and what a team's image runs on), which
are built first, once per content. A team's image tag is a hash of everything that goes into it: its
folder (source, lock, Dockerfile), the platform's libraries every image carries, the platform's
recipe files and the base image's id. A team whose files did not change keeps its tag, and an image that
already exists under that tag is not rebuilt; the engine's layer cache keeps a team's dependency layer
while its lock is unchanged.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import requests
from docker.errors import APIError, BuildError, DockerException, ImageNotFound
from jaffle_contract import naming

import docker
from jaffle_ops.errors import PlatformError

DEFAULT_BASE = "python:3.11-slim-bookworm"
# The platform's recipe: the base images every team's Dockerfile builds on.
PLATFORM_DOCKERFILE = "docker/platform.Dockerfile"
SHARED = (".dockerignore", "docker/no-extra-ca.crt", "docker/install-lock.sh", PLATFORM_DOCKERFILE)
# The platform's base images: the stage a team installs its lock in, and the one it runs on.
PLATFORM_STAGES = {"dependencies": "jaffle-platform-dependencies", "runtime": "jaffle-platform"}
# Folders every team image copies beside the team's own (the platform's libraries: `COPY libs/`).
SHARED_FOLDERS = ("libs",)
STAGED_CA = ".build/ca-bundle.crt"
# What `content_tag` makes, and what `prune` may remove.
CONTENT_TAG = re.compile(r"[0-9a-f]{12}")
# A registry host[:port] and optional lowercase path, as an image reference's prefix.
REFERENCE_PREFIX = re.compile(r"[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)*")
IGNORED_PARTS = {"__pycache__", ".pytest_cache", ".ruff_cache", "target", "logs", ".venv"}


@dataclass(frozen=True)
class Built:
    team: str
    tag: str
    cached: bool
    seconds: float
    size_bytes: int


@dataclass(frozen=True)
class Pruned:
    team: str
    removed: list[str]
    in_use: list[str]  # older tags a container still uses: the engine keeps them


def _engine() -> docker.DockerClient:
    try:
        client = docker.from_env()
        client.ping()
    except DockerException as error:
        raise PlatformError(
            f"cannot reach the Docker engine ({error}): start it (dockerd, Docker Desktop) or set DOCKER_HOST"
        ) from None
    return client


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


def host_ca_bundle() -> Path | None:
    """The CA bundle this machine points pip at (a TLS-intercepting proxy's), if any."""
    for name in ("JAFFLE_CA_BUNDLE", "PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        value = os.environ.get(name)
        if value and Path(value).is_file():
            return Path(value)
    return None


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


def build(
    root: Path,
    team: str,
    folder: Path,
    base_image: str = DEFAULT_BASE,
    ca_bundle: Path | None = None,
    keep_ca_bundle: bool = False,
    version: str | None = None,
) -> Built:
    """Build `team`'s image unless one with its content tag exists; the engine is reached with the SDK.
    The image's version label is the team package's version (its pyproject.toml) unless given."""
    version = version or package_version(folder)
    client = _engine()
    try:
        base_id = client.images.get(base_image).id
    except ImageNotFound:
        raise PlatformError(
            f"base image {base_image} not found: build it with docker/base-image.sh (no registry here) "
            "or pull it where a registry is reachable"
        ) from None
    tag = f"{image_name(team)}:{content_tag(root, folder, base_id)}"
    revision = source_revision(root, folder)
    began = time.monotonic()
    try:
        image = client.images.get(tag)
        labels = image.labels or {}
        if (
            labels.get("org.opencontainers.image.revision") == revision
            and labels.get("org.opencontainers.image.version") == version
        ):
            return Built(team, tag, True, time.monotonic() - began, image.attrs["Size"])
        # Same content, newer commit (e.g. built from a work tree, since committed): relabel, which
        # the engine's layer cache makes a matter of seconds.
    except ImageNotFound:
        pass
    platform = platform_images(client, root, base_image, base_id, ca_bundle, keep_ca_bundle)
    buildargs = {
        "PLATFORM_DEPENDENCIES": platform["dependencies"],
        "PLATFORM": platform["runtime"],
        "VERSION": version,
        "GIT_REVISION": revision,
        "FOLDER": folder.relative_to(root).as_posix(),
        "TEAM": team,
        "IMPORT_NAME": import_name(folder),
    }
    image = _build(client, root, dockerfile_of(root, folder), tag, buildargs)
    image.tag(image_name(team), "latest")
    return Built(team, tag, False, time.monotonic() - began, image.attrs["Size"])


def _build(
    client: docker.DockerClient,
    root: Path,
    dockerfile: Path,
    tag: str,
    buildargs: dict[str, str],
    target: str | None = None,
) -> docker.models.images.Image:
    try:
        image, _ = client.images.build(
            path=str(root),
            dockerfile=str(dockerfile.relative_to(root)),
            tag=tag,
            buildargs=buildargs,
            target=target,
            network_mode="host",  # pip and apt reach their registries through the host's network
            rm=True,
            forcerm=True,
        )
    except BuildError as error:
        log = "".join(chunk.get("stream", "") for chunk in error.build_log)[-4000:]
        raise PlatformError(f"building {tag} failed: {error.msg}\n{log}") from None
    return image


def platform_images(
    client: docker.DockerClient,
    root: Path,
    base_image: str,
    base_id: str,
    ca_bundle: Path | None,
    keep_ca_bundle: bool,
) -> dict[str, str]:
    """The platform's base images (stage -> tag), built once per content: the recipe's files, the base
    image, the CA bundle and whether the runtime keeps it."""
    digest = hashlib.sha256(base_id.encode() + (b"keep" if keep_ca_bundle else b"drop"))
    for path in [*(root / s for s in SHARED), *([ca_bundle] if ca_bundle else [])]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    content = digest.hexdigest()[:12]
    tags = {stage: f"{name}:{content}" for stage, name in PLATFORM_STAGES.items()}
    buildargs = {"BASE_IMAGE": base_image, "KEEP_CA_BUNDLE": "true" if keep_ca_bundle else "false"}
    staged = root / STAGED_CA
    try:
        for stage, tag in tags.items():
            try:
                client.images.get(tag)
                continue
            except ImageNotFound:
                pass
            if ca_bundle and not staged.exists():
                staged.parent.mkdir(exist_ok=True)
                shutil.copyfile(ca_bundle, staged)
                buildargs["CA_BUNDLE"] = STAGED_CA
            image = _build(client, root, root / PLATFORM_DOCKERFILE, tag, buildargs, target=stage)
            # `latest` too: a team's Dockerfile builds by hand (`docker build -f <folder>/Dockerfile .`)
            # on the newest platform images this engine has.
            image.tag(tag.partition(":")[0], "latest")
    finally:
        staged.unlink(missing_ok=True)
    return tags


def prune(team: str, current_tag: str) -> Pruned:
    """Remove the tags of `team`'s older builds: its content tags (12 hex digits) other than
    `current_tag`'s, local or registry-qualified (`<registry>/jaffle-<team>:<hash>`, left by a push).

    Other tags (`latest`, a hand-made `:dev`) are never touched. Removing a tag frees an image's space
    once no other tag names it; an image a stopped or running container uses is kept by the engine and
    reported as in use.
    """
    client = _engine()
    name = image_name(team)
    current = current_tag.rpartition(":")[2]
    removed: list[str] = []
    in_use: list[str] = []
    for image in client.images.list():
        for ref in image.tags:
            repository, _, tag = ref.rpartition(":")
            ours = repository == name or repository.endswith(f"/{name}")
            if not ours or tag == current or not CONTENT_TAG.fullmatch(tag):
                continue
            try:
                client.images.remove(ref)
            except APIError as error:
                if error.status_code != 409:  # 409: a container uses it
                    raise PlatformError(f"removing {ref} failed: {error.explanation or error}") from None
                in_use.append(ref)
            else:
                removed.append(ref)
    return Pruned(team, sorted(removed), sorted(in_use))


def registry_prefix(registry: str) -> str:
    """`ghcr.io/Acme/`, `http://127.0.0.1:5000` -> `ghcr.io/acme`, `127.0.0.1:5000` (references are
    lowercase and carry no scheme)."""
    prefix = re.sub(r"^[a-z][a-z0-9+.-]*://", "", registry.strip(), flags=re.IGNORECASE).strip("/").lower()
    if not prefix or not REFERENCE_PREFIX.fullmatch(prefix):
        raise PlatformError(f"not a registry to push to: {registry!r} (e.g. ghcr.io/acme or 127.0.0.1:5000)")
    return prefix


def push(built_tag: str, registry: str) -> str:
    """Tag `jaffle-<team>:<hash>` as `<registry>/jaffle-<team>:<hash>`, push it, return that reference.

    Credentials are the engine client's (`docker login`, e.g. docker/login-action in CI). A content tag
    names exactly the files that were built and tested, so a worker on another machine runs those.
    """
    client = _engine()
    name, _, tag = built_tag.rpartition(":")
    remote = f"{registry_prefix(registry)}/{name}"
    failure = None
    try:
        client.images.get(built_tag).tag(remote, tag)
        for line in client.images.push(remote, tag=tag, stream=True, decode=True):
            if "error" in line:
                failure = line["error"]
                break
    except (DockerException, requests.RequestException) as error:
        failure = getattr(error, "explanation", None) or str(error)
    if failure is None:
        return f"{remote}:{tag}"
    # Only this tag goes (the team's image stays); if it was never made, the push's error is the news.
    with contextlib.suppress(DockerException, requests.RequestException):
        client.images.remove(f"{remote}:{tag}")
    raise PlatformError(f"pushing {remote}:{tag} failed: {failure}")
