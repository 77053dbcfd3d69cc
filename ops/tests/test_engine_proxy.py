"""The engine proxy between a real Docker SDK client and a recording stand-in for the engine's socket:
what a worker needs passes (with `Connection: close`), every way onto the host is refused by name and
never reaches the engine."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import socket
import threading

import pytest
from docker.errors import APIError
from jaffle_ops.engine_proxy import Policy, serve

import docker

NETWORK, DATA = "jaffle-stack", "/srv/jaffle/data"
HARDENED = {
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges:true"],
    "network": NETWORK,
    "volumes": [f"{DATA}:/data"],
    "user": "10001:10001",
}


@pytest.fixture(scope="module")
def proxied(tmp_path_factory):
    """(docker client through the proxy, the requests the engine received)."""
    engine_socket = str(tmp_path_factory.mktemp("engine") / "docker.sock")
    received: list[tuple[str, dict[str, str]]] = []

    async def engine(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        lines = head.split("\r\n")
        pairs = (line.partition(":") for line in lines[1:] if line)
        headers = {k.lower(): v.strip() for k, _, v in pairs}
        await reader.readexactly(int(headers.get("content-length", 0)))
        received.append((lines[0], headers))
        config = {"Labels": {}, "Tty": True}
        answer = {"Id": "0123456789ab", "Warnings": [], "Name": "/run", "Config": config, "State": {}}
        payload = json.dumps(answer).encode()
        status = b"201 Created" if "/containers/create" in lines[0] else b"200 OK"
        writer.write(
            b"HTTP/1.1 "
            + status
            + b"\r\nContent-Type: application/json\r\nConnection: close\r\n"
            + f"Content-Length: {len(payload)}\r\n\r\n".encode()
            + payload
        )
        await writer.drain()
        writer.close()

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    loop = asyncio.new_event_loop()

    async def both() -> None:
        await asyncio.start_unix_server(engine, engine_socket)
        await serve(Policy(frozenset({NETWORK}), frozenset({DATA})), engine_socket, f"127.0.0.1:{port}")

    def run() -> None:
        with contextlib.suppress(RuntimeError):  # the loop is stopped when the module is done
            loop.run_until_complete(both())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    client = docker.DockerClient(base_url=f"tcp://127.0.0.1:{port}", version="1.43", timeout=10)
    for _ in range(100):
        try:
            client.api.get(client.api._url("/_ping"))
            break
        except Exception:
            threading.Event().wait(0.05)
    yield client, received, port
    loop.call_soon_threadsafe(loop.stop)


def test_what_a_worker_needs_reaches_the_engine_one_request_per_connection(proxied):
    client, received, _ = proxied
    received.clear()
    container = client.containers.create("jaffle-ml-forecast:abc", **HARDENED)
    client.api.start(container.id)
    client.api.wait(container.id)
    client.api.logs(container.id)
    client.api.remove_container(container.id)
    client.api.connect_container_to_network(container.id, NETWORK)
    lines = [line for line, _ in received]
    assert lines[0].startswith("POST /v1.43/containers/create")
    assert any(" /v1.43/containers/0123456789ab/start " in line for line in lines)
    assert any(line.startswith("DELETE /v1.43/containers/0123456789ab") for line in lines)
    assert all(headers["connection"] == "close" for _, headers in received)


@pytest.mark.parametrize(
    ("asked", "reason"),
    [
        ({"privileged": True}, "privileged containers are not allowed"),
        ({"cap_add": ["SYS_ADMIN"]}, "added capabilities are not allowed"),
        ({"cap_drop": []}, "must drop every capability"),
        ({"security_opt": []}, "must run with no-new-privileges"),
        ({"volumes": ["/:/host"]}, "binding '/' is not allowed"),
        ({"volumes": ["/var/run/docker.sock:/var/run/docker.sock"]}, "binding '/var/run/docker.sock'"),
        ({"pid_mode": "host"}, "namespace (pidmode) is not allowed"),
        ({"ports": {"8080/tcp": 8080}}, "portbindings is not allowed"),
        ({"security_opt": ["no-new-privileges:true", "seccomp=unconfined"]}, "no other security option"),
        ({"security_opt": ["no-new-privileges=false"]}, "no other security option"),
        ({"network": None, "network_mode": "host"}, "network 'host' is not one flow runs may use"),
        ({"network": "bridge"}, "network 'bridge' is not one flow runs may use"),
        ({"devices": ["/dev/sda:/dev/sda"]}, "devices is not allowed"),
    ],
)
def test_a_container_that_could_reach_the_host_is_refused_and_never_reaches_the_engine(
    proxied, asked, reason
):
    client, received, _ = proxied
    received.clear()
    with pytest.raises(APIError) as refused:
        client.containers.create("jaffle-ml-forecast:abc", **{**HARDENED, **asked})
    assert refused.value.response.status_code == 403
    assert reason in refused.value.explanation, refused.value.explanation
    assert received == []


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.api.exec_create("0123456789ab", "sh"),
        lambda c: c.api.create_volume("x"),
        lambda c: c.api.connect_container_to_network("0123456789ab", "other-network"),
        lambda c: c.api.create_network("x"),
        lambda c: c.api.prune_containers(),
        lambda c: list(c.api.build(fileobj=io.BytesIO(b"FROM scratch"))),
    ],
)
def test_what_a_worker_never_does_is_refused(proxied, call):
    client, received, _ = proxied
    received.clear()
    with pytest.raises(APIError) as refused:
        call(client)
    assert refused.value.response.status_code == 403 and "refused by the platform's engine proxy" in str(
        refused.value.explanation
    )
    assert received == []


def test_the_engines_case_blind_field_names_and_odd_paths_do_not_get_around_the_checks(proxied):
    """The engine decodes `privileged` as Privileged and cleans `/containers/../build`: so does the proxy."""
    client, received, _ = proxied
    received.clear()
    hardened = {"CapDrop": ["ALL"], "SecurityOpt": ["no-new-privileges:true"], "NetworkMode": NETWORK}
    for body in (
        {"Image": "x", "HostConfig": {**hardened, "privileged": True}},
        {"Image": "x", "hostconfig": {**hardened, "PRIVILEGED": True}},
        {"Image": "x", "HostConfig": {**hardened, "Privileged": False, "privileged": True}},
    ):
        answer = client.api._post_json(client.api._url("/containers/create"), data=body)
        assert answer.status_code == 403 and "privileged" in answer.text, body
    for path in ("/containers/../build", "/containers/abc/..%2F..%2Fbuild/start", "/images/../../build/json"):
        answer = client.api._post(client.api._url(path))
        assert answer.status_code == 403, path
    assert received == []


def _raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(request)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_requests_the_engine_would_read_differently_are_refused(proxied):
    """Smuggling a second request behind bare LFs, a repeated or non-ASCII JSON field, an old API whose
    `start` takes a HostConfig, a body where none is checked, an image import, another's container."""
    client, received, port = proxied
    received.clear()
    evil = b'{"Image":"x","HostConfig":{"Privileged":true}}'
    smuggled = (
        b"GET /v1.43/_ping HTTP/1.1\r\nHost: x\r\nX: a\n\nPOST /v1.43/containers/create HTTP/1.1\n"
        + b"Host: x\r\nContent-Length: %d\r\n\r\n" % len(evil)
        + evil
    )
    assert b" 403 " in _raw(port, smuggled).split(b"\r\n", 1)[0]
    hardened = '"CapDrop":["ALL"],"SecurityOpt":["no-new-privileges"],"NetworkMode":"jaffle-stack"'
    for template in (
        '{"Image":"x","HostConfig":{"Privileged":true,"Binds":["/:/host"]},"HostConfig":{HARD}}',
        '{"Image":"x","HostConfig":{HARD,"Bind\\u017f":["/:/host"]}}',  # Go folds the long s to s
        '{"Image":"x","Ho\\u017ftConfig":{"Privileged":true},"HostConfig":{HARD}}',
        '{"Image":"x","HostConfig":{HARD},"NetworkingConfig":{"EndpointsConfig":{"jaffle-stack_database":{}}}}',
    ):
        body = template.replace("HARD", hardened)
        answer = client.api._post(
            client.api._url("/containers/create"), data=body, headers={"Content-Type": "application/json"}
        )
        assert answer.status_code == 403, (body, answer.text)
    container = client.api.create_container(
        "x",
        host_config=client.api.create_host_config(
            cap_drop=["ALL"], security_opt=["no-new-privileges"], network_mode=NETWORK
        ),
    )["Id"]
    received.clear()
    old = client.api._post(f"{client.api.base_url}/v1.23/containers/{container}/start", json={"x": 1})
    assert old.status_code == 403 and "1.24 or newer" in old.text
    start = client.api._url(f"/containers/{container}/start")
    with_body = client.api._post_json(start, data={"Privileged": True})
    assert with_body.status_code == 403 and "takes no body" in with_body.text
    imported = client.api._post(client.api._url("/images/create"), params={"fromSrc": "http://10.0.0.1/x"})
    assert imported.status_code == 403 and "fromSrc" in imported.text
    for others in ("jaffle-stack-postgres-1", "ffffffffffff"):
        assert client.api._get(client.api._url(f"/containers/{others}/json")).status_code == 403, others
        assert client.api._post(client.api._url(f"/containers/{others}/stop")).status_code == 403, others
        joined = client.api._post_json(
            client.api._url(f"/networks/{NETWORK}/connect"), data={"Container": others}
        )
        assert joined.status_code == 403, others
    assert received == []
