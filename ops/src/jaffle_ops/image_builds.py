"""Building team images with the Docker SDK, incrementally.

Each team's image is built from its own Dockerfile (`<folder>/Dockerfile`) on the platform's two base
images (`docker/platform.Dockerfile`: where locks are installed, and what a team's image runs on), which
are built first, once per content. An image that already exists under its content tag
(image_content.content_tag) is not rebuilt; the engine's layer cache keeps a team's dependency layer
while its lock is unchanged.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from docker.errors import BuildError, DockerException, ImageNotFound

import docker
from jaffle_ops.errors import PlatformError
from jaffle_ops.image_content import (
    PLATFORM_DOCKERFILE,
    SHARED,
    content_tag,
    dockerfile_of,
    image_name,
    import_name,
    package_version,
    source_revision,
)

DEFAULT_BASE = "python:3.11-slim-bookworm"
# The platform's base images: the stage a team installs its lock in, and the one it runs on.
PLATFORM_STAGES = {"dependencies": "jaffle-platform-dependencies", "runtime": "jaffle-platform"}
STAGED_CA = ".build/ca-bundle.crt"


@dataclass(frozen=True)
class Built:
    team: str
    tag: str
    cached: bool
    seconds: float
    size_bytes: int


def engine() -> docker.DockerClient:
    """A client of the Docker engine, or an error that says how to start one."""
    try:
        client = docker.from_env()
        client.ping()
    except DockerException as error:
        raise PlatformError(
            f"cannot reach the Docker engine ({error}): start it (dockerd, Docker Desktop) or set DOCKER_HOST"
        ) from None
    return client


def host_ca_bundle() -> Path | None:
    """The CA bundle this machine points pip at (a TLS-intercepting proxy's), if any."""
    for name in ("JAFFLE_CA_BUNDLE", "PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        value = os.environ.get(name)
        if value and Path(value).is_file():
            return Path(value)
    return None


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
    client = engine()
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
