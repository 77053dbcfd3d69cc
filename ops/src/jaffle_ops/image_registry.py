"""A team image's way out of this engine: pushed to a registry under its content tag, and the tags of
its older builds pruned."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass

import requests
from docker.errors import APIError, DockerException

from jaffle_ops.errors import PlatformError
from jaffle_ops.image_builds import engine
from jaffle_ops.image_content import CONTENT_TAG, image_name

# A registry host[:port] and optional lowercase path, as an image reference's prefix.
REFERENCE_PREFIX = re.compile(r"[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)*")


@dataclass(frozen=True)
class Pruned:
    team: str
    removed: list[str]
    in_use: list[str]  # older tags a container still uses: the engine keeps them


def prune(team: str, current_tag: str) -> Pruned:
    """Remove the tags of `team`'s older builds: its content tags (12 hex digits) other than
    `current_tag`'s, local or registry-qualified (`<registry>/jaffle-<team>:<hash>`, left by a push).

    Other tags (`latest`, a hand-made `:dev`) are never touched. Removing a tag frees an image's space
    once no other tag names it; an image a stopped or running container uses is kept by the engine and
    reported as in use.
    """
    client = engine()
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
    client = engine()
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
