"""The engine proxy between a real Docker SDK client and a recording stand-in for the engine's socket:
what a worker needs passes (with `Connection: close`), every way onto the host is refused by name and
never reaches the engine (bar the proxy's own inspect of a container, which must carry its label)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import re
import socket
import threading

import pytest
from docker.errors import APIError, NotFound
from jaffle_ops.engine_policy import LABEL, LABEL_VALUE
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


FOREIGN = "ffffffffffff" + "0" * 52  # a container the proxy did not create (the stack's database)
NAMES = {"jaffle-stack-postgres-1": FOREIGN}


def _engine_answer(target: str, body: bytes, containers: dict[str, dict[str, str]]) -> tuple[bytes, dict]:
    """The stand-in engine's (status, answer): a create keeps the labels it was given, an inspect finds
    a container by id, id prefix or name and shows them."""
    if "/containers/create" in target:
        containers["0123456789ab"] = json.loads(body).get("Labels") or {}
        return b"201 Created", {"Id": "0123456789ab", "Warnings": []}
    inspected = re.fullmatch(r"/v[0-9.]+/containers/([^/]+)/json", target)
    if inspected is None:
        return b"200 OK", {"Id": "0123456789ab", "Warnings": [], "State": {}}
    reference = NAMES.get(inspected[1], inspected[1])
    found = [c for c in containers if c.startswith(reference)]
    if not found:
        return b"404 Not Found", {"message": f"No such container: {inspected[1]}"}
    config = {"Labels": containers[found[0]], "Tty": True}
    return b"200 OK", {"Id": found[0], "Name": "/run", "Config": config}


@pytest.fixture(scope="module")
def proxied(tmp_path_factory):
    """(docker client through the proxy, the requests the engine received, the proxy's port, the labels
    of each container the engine holds by id)."""
    engine_socket = str(tmp_path_factory.mktemp("engine") / "docker.sock")
    received: list[tuple[str, dict[str, str], bytes]] = []
    containers: dict[str, dict[str, str]] = {FOREIGN: {}}

    async def engine(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        lines = head.split("\r\n")
        pairs = (line.partition(":") for line in lines[1:] if line)
        headers = {k.lower(): v.strip() for k, _, v in pairs}
        body = await reader.readexactly(int(headers.get("content-length", 0)))
        received.append((lines[0], headers, body))
        status, answer = _engine_answer(lines[0].split(" ")[1], body, containers)
        payload = json.dumps(answer).encode()
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
    yield client, received, port, containers
    loop.call_soon_threadsafe(loop.stop)


def test_what_a_worker_needs_reaches_the_engine_one_request_per_connection(proxied):
    client, received, _, containers = proxied
    received.clear()
    container = client.containers.create("jaffle-ml-forecast:abc", labels={"team": "ml"}, **HARDENED)
    assert containers[container.id] == {"team": "ml", LABEL: LABEL_VALUE}
    client.api.start(container.id)
    client.api.wait(container.id)
    client.api.logs(container.id)
    client.api.remove_container(container.id)
    client.api.connect_container_to_network(container.id, NETWORK)
    lines = [line for line, *_ in received]
    assert lines[0].startswith("POST /v1.43/containers/create")
    assert any(" /v1.43/containers/0123456789ab/start " in line for line in lines)
    assert any(line.startswith("DELETE /v1.43/containers/0123456789ab") for line in lines)
    assert all(headers["connection"] == "close" for _, headers, _ in received)


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
    client, received, *_ = proxied
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
    client, received, *_ = proxied
    received.clear()
    with pytest.raises(APIError) as refused:
        call(client)
    assert refused.value.response.status_code == 403 and "refused by the platform's engine proxy" in str(
        refused.value.explanation
    )
    assert received == []


def test_the_engines_case_blind_field_names_and_odd_paths_do_not_get_around_the_checks(proxied):
    """The engine decodes `privileged` as Privileged and cleans `/containers/../build`: so does the proxy."""
    client, received, *_ = proxied
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
    """Smuggling a second request behind bare LFs, folded lines, chunks or a second Host; a repeated or
    non-ASCII JSON field, an old API whose `start` takes a HostConfig, a body where none is checked, an
    image import, another's container."""
    client, received, port, _ = proxied
    received.clear()
    evil = b'{"Image":"x","HostConfig":{"Privileged":true}}'
    smuggled = (
        b"GET /v1.43/_ping HTTP/1.1\r\nHost: x\r\nX: a\n\nPOST /v1.43/containers/create HTTP/1.1\n"
        + b"Host: x\r\nContent-Length: %d\r\n\r\n" % len(evil)
        + evil
    )
    folded = b"GET /v1.43/_ping HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n"
    chunked = (
        b"POST /v1.43/containers/create HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    )
    twice = b"GET /v1.43/_ping HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n"
    for request in (smuggled, folded, chunked, twice, b"GET /v1.43/_ping HTTP/1.1\r\nBad Name: x\r\n\r\n"):
        assert b" 403 " in _raw(port, request).split(b"\r\n", 1)[0], request
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
    assert received == []
    others = ("jaffle-stack-postgres-1", "ffffffffffff")
    for other in others:
        assert client.api._get(client.api._url(f"/containers/{other}/json")).status_code == 403, other
        assert client.api._post(client.api._url(f"/containers/{other}/stop")).status_code == 403, other
        joined = client.api._post_json(
            client.api._url(f"/networks/{NETWORK}/connect"), data={"Container": other}
        )
        assert joined.status_code == 403, other
    # what reached the engine: the proxy's own inspect of each, which found no label
    assert [line for line, *_ in received] == [
        f"GET /v1.43/containers/{other}/json HTTP/1.1" for other in others for _ in range(3)
    ]


def test_a_container_is_known_by_the_label_the_engine_keeps_and_named_by_its_id(proxied):
    """A container an earlier proxy created (the label is on it, this proxy never saw it) is one a worker
    may act on, by any name the engine knows it by; the engine gets its id. None at all: the engine's 404."""
    client, received, _, containers = proxied
    earlier = "feedfacefeed" + "1" * 52
    containers[earlier] = {LABEL: LABEL_VALUE}
    received.clear()
    client.api.stop(earlier[:12])
    client.api.connect_container_to_network(earlier[:12], NETWORK)
    lines = [line for line, *_ in received]
    assert lines == [
        f"GET /v1.43/containers/{earlier[:12]}/json HTTP/1.1",
        f"POST /v1.43/containers/{earlier}/stop HTTP/1.1",
        f"GET /v1.43/containers/{earlier[:12]}/json HTTP/1.1",
        f"POST /v1.43/networks/{NETWORK}/connect HTTP/1.1",
    ]
    assert json.loads(received[-1][2])["Container"] == earlier
    containers[earlier] = {LABEL: "something else"}
    with pytest.raises(APIError) as refused:
        client.api.stop(earlier)
    assert refused.value.response.status_code == 403
    with pytest.raises(NotFound):
        client.api.kill("abcdefabcdef")
