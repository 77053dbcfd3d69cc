"""The engine proxy (`jaffle_ops.engine_proxy`) on the real engine: which containers a worker may act on
is the label the proxy puts on what it creates, kept by the engine, so a restarted proxy (a new process,
as compose's `restart: unless-stopped` makes one) still stops what the last one started, and still
refuses what was started without it."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from docker.errors import APIError, DockerException, NotFound

import docker

BASE = os.environ.get("JAFFLE_BASE_IMAGE", "jaffle-base:bookworm")
ENGINE = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
# Says it started, then exits 0 on the SIGTERM a stop sends (as PID 1 it would ignore one otherwise).
COMMAND = [
    "python3",
    "-c",
    "import signal, time; signal.signal(signal.SIGTERM, lambda *_: exit(0)); print('started', flush=True); "
    "time.sleep(600)",
]


@contextlib.contextmanager
def _proxy(listen: Path, log: Path) -> Iterator[docker.DockerClient]:
    """A proxy process on the engine, listening on `listen`, and a Docker client that goes through it."""
    if not ENGINE.startswith("unix://"):
        pytest.fail(f"the engine proxy needs the engine's local socket; DOCKER_HOST is {ENGINE}")
    command = [sys.executable, "-m", "jaffle_ops.engine_proxy", f"--listen=unix:{listen}"]
    with open(log, "ab") as output:
        proxy = subprocess.Popen(
            [*command, f"--engine={ENGINE.removeprefix('unix://')}"], stdout=output, stderr=output
        )
    try:
        for _ in range(600):  # a hang guard: the proxy starts in well under a second
            with contextlib.suppress(DockerException):
                # asks the engine's version through the proxy, as a worker's client does
                client = docker.DockerClient(base_url=f"unix://{listen}", version="auto", timeout=30)
                break
            if proxy.poll() is not None:
                pytest.fail(f"the engine proxy exited: {log.read_text()}")
            time.sleep(0.05)
        else:
            pytest.fail(f"the engine proxy did not answer: {log.read_text()}")
        yield client
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)


@pytest.mark.docker
def test_a_restarted_proxy_still_acts_on_what_it_created_and_on_nothing_else(engine, tmp_path):
    listen, log = tmp_path / "engine.sock", tmp_path / "engine-proxy.log"
    hardened = {"cap_drop": ["ALL"], "security_opt": ["no-new-privileges"], "network_mode": "none"}
    started: list[str] = []
    try:
        with _proxy(listen, log) as client:
            made = client.api.create_container(
                BASE, COMMAND, host_config=client.api.create_host_config(**hardened)
            )
            started.append(made["Id"])
            client.api.start(made["Id"])
        direct = engine.containers.create(BASE, COMMAND, **hardened)
        started.append(direct.id)
        with _proxy(listen, log) as client:  # a new process: it never saw the create
            client.api.stop(made["Id"], timeout=30)
            assert client.api.wait(made["Id"], timeout=30)["StatusCode"] == 0
            assert client.api.logs(made["Id"]) == b"started\n"
            assert client.api.inspect_container(made["Id"][:12])["State"]["Status"] == "exited"
            for call in (client.api.inspect_container, client.api.start, client.api.stop, client.api.kill):
                with pytest.raises(APIError) as refused:
                    call(direct.id)
                assert refused.value.response.status_code == 403, call
                assert "was not started by a worker" in refused.value.explanation, call
            with pytest.raises(APIError) as refused:
                client.api.remove_container(
                    direct.name
                )  # by name: the engine's answer, not the proxy's memory
            assert refused.value.response.status_code == 403
            client.api.remove_container(made["Id"])
            with pytest.raises(NotFound):
                client.api.stop(made["Id"])
        direct.reload()
        assert direct.status == "created"  # never started, never removed
    finally:
        for container in started:
            with contextlib.suppress(NotFound):
                engine.api.remove_container(container, force=True)
