"""The docker tier's engine: a running Docker engine holding the base image, or a skip with the reason
(a failure under CI, which installs docker.io, starts dockerd and builds the base image)."""

from __future__ import annotations

import os

import pytest

BASE = os.environ.get("JAFFLE_BASE_IMAGE", "jaffle-base:bookworm")


def unavailable(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def engine():
    from docker.errors import DockerException, ImageNotFound

    import docker

    try:
        client = docker.from_env()
        client.ping()
    except DockerException as error:
        unavailable(f"no Docker engine: {error} (.ci/run installs docker.io and starts dockerd)")
    try:
        client.images.get(BASE)
    except ImageNotFound:
        unavailable(f"no base image {BASE}: build it with docker/base-image.sh")
    return client
