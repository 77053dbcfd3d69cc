"""The docker tier's services: a running Docker engine holding the base image and a loopback registry,
or a skip with the reason (a failure under CI, which installs docker.io and docker-registry, starts
dockerd and builds the base image)."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import subprocess
import time
import urllib.request
from dataclasses import dataclass

import pytest
from docker.errors import DockerException, ImageNotFound

BASE = os.environ.get("JAFFLE_BASE_IMAGE", "jaffle-base:bookworm")
# The test registry is on loopback: never through a proxy from the environment.
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture(scope="session")
def engine(unavailable):
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


@pytest.fixture(scope="session")
def registry(engine, free_port, unavailable, tmp_path_factory):
    """A Distribution registry (Debian's docker-registry) on loopback, where the engine pushes over
    plain HTTP (127.0.0.0/8 is an insecure registry by default)."""
    binary = shutil.which("docker-registry")
    if not binary:
        unavailable("no docker-registry (apt-get install docker-registry; .ci/run does)")
    root, port = tmp_path_factory.mktemp("registry"), free_port()
    config = {
        "version": "0.1",
        "log": {"level": "warn"},
        "storage": {"filesystem": {"rootdirectory": str(root / "data")}},
        "http": {"addr": f"127.0.0.1:{port}"},
    }
    (root / "config.yml").write_text(json.dumps(config))  # JSON is YAML
    with open(root / "registry.log", "wb") as log:
        server = subprocess.Popen([binary, "serve", str(root / "config.yml")], stdout=log, stderr=log)
    try:
        for _ in range(300):
            try:
                with DIRECT.open(f"http://127.0.0.1:{port}/v2/", timeout=1) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if server.poll() is not None:
                    pytest.fail(f"docker-registry exited: {(root / 'registry.log').read_text()}")
                time.sleep(0.1)
        else:
            pytest.fail(f"docker-registry did not answer: {(root / 'registry.log').read_text()}")
        yield Registry(f"127.0.0.1:{port}")
    finally:
        server.terminate()
        server.wait(timeout=10)


@dataclass(frozen=True)
class Registry:
    address: str  # host:port

    def tags(self, repository: str) -> list[str]:
        with DIRECT.open(f"http://{self.address}/v2/{repository}/tags/list", timeout=10) as answer:
            return json.loads(answer.read())["tags"] or []


@pytest.fixture
def only_in_registry(engine):
    """`with only_in_registry(remote) as image_id:` the engine holds no tag of that image."""
    return functools.partial(_only_in_registry, engine)


@contextlib.contextmanager
def _only_in_registry(engine, remote: str):
    """Remove every tag of the image `remote` names, so this engine must pull it (the layers it shares
    with the base image stay, as on any worker host that has pulled the base); afterwards the image, as
    pulled back, gets its local tags again (not `remote`, which a run leaves behind otherwise)."""
    image = engine.images.get(remote)
    tags = list(image.tags)
    for tag in tags:
        engine.images.remove(tag)
    try:
        yield image.id
    finally:
        try:
            pulled = engine.images.get(image.id)
        except ImageNotFound:  # never pulled back: the next build makes it again
            pass
        else:
            for tag in tags:
                if tag != remote:
                    pulled.tag(*tag.rsplit(":", 1))
            with contextlib.suppress(ImageNotFound):
                engine.images.remove(remote)
