"""A Docker Engine API proxy that lets a Docker worker do what starting flow runs takes, and nothing else.

The engine's socket is root on its host: a worker that holds it could start a privileged container
with `/` mounted. The compose stack's workers hold this proxy's address instead (on a network only
they and the proxy join). Every request is read whole and checked before it reaches the engine, by
the rules in `engine_policy.py`; a container the request acts on must carry the label the proxy puts
on the containers it creates, as the engine shows it (so a restarted proxy still knows them), and is
named to the engine by the id that was checked (a name or id prefix could name another by then).

The request is parsed by h11, after the head is held to CRLF lines with none folded (h11 takes bare LFs
and folded lines, which another parser may read differently), with no Transfer-Encoding or repeated
Host, a body only where one is checked, an API version of 1.24 or newer, JSON with ASCII keys each
given once. It is forwarded rebuilt from what was parsed, with `Connection: close`, so what the engine
reads is exactly what was checked, one request per connection; the engine's answer streams back as it
comes (logs, wait).

    python -m jaffle_ops.engine_proxy --listen 0.0.0.0:2375 --engine /var/run/docker.sock \\
        --allow-network jaffle-stack --allow-bind /srv/jaffle/data
    python -m jaffle_ops.engine_proxy --listen unix:/path/engine.sock ...   # a socket only its owner opens
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import re
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import h11

from jaffle_ops.engine_policy import VERSION, Policy, Refused, created, labelled, with_container

MAX_HEAD = 64 * 1024
MAX_BODY = 4 * 1024 * 1024
# Headers about this hop, or the framing the proxy sets itself: never forwarded as the client sent them.
DROPPED = {b"connection", b"keep-alive", b"upgrade", b"proxy-connection", b"te", b"content-length"}


@dataclass(frozen=True)
class Request:
    method: str
    target: str
    headers: list[tuple[bytes, bytes]]  # as the client sent them (names in their case)
    body: bytes

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]


def _events(connection: h11.Connection, *events: h11.Event) -> bytes:
    return b"".join(connection.send(event) or b"" for event in events)


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    except asyncio.LimitOverrunError:
        raise Refused("request head too large") from None
    lines = head[:-4].split(b"\r\n")
    if any(b"\r" in line or b"\n" in line for line in lines):
        raise Refused("header lines must end with CRLF")
    if any(line.startswith((b" ", b"\t")) for line in lines[1:]):
        raise Refused("folded header lines are not allowed")
    connection = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
    connection.receive_data(head)
    started = connection.next_event()
    if not isinstance(started, h11.Request):
        raise Refused("malformed request head")
    names = [name for name, _ in started.headers]
    if b"transfer-encoding" in names:
        raise Refused("Transfer-Encoding is not allowed: send a Content-Length")
    if names.count(b"host") > 1:
        raise Refused("Host is given more than once")
    if int(dict(started.headers).get(b"content-length", b"0")) > MAX_BODY:
        raise Refused(f"the body is over {MAX_BODY} bytes")
    body = b""
    while not isinstance(event := connection.next_event(), h11.EndOfMessage):
        if event is h11.NEED_DATA:
            connection.receive_data(await reader.read(65536))
        elif isinstance(event, h11.Data):
            body += event.data
    headers = list(started.headers.raw_items())
    return Request(started.method.decode(), started.target.decode("latin-1"), headers, body)


def _forwarded(request: Request) -> tuple[h11.Connection, bytes]:
    """The request rebuilt from what was parsed, with `Connection: close`, and the h11 connection that
    reads the engine's answer to it."""
    kept = [(name, value) for name, value in request.headers if name.lower() not in DROPPED]
    if not any(name.lower() == b"host" for name, _ in kept):
        kept.append((b"Host", b"docker"))  # HTTP/1.1 needs one; an HTTP/1.0 client may send none
    if request.body or any(name.lower() == b"content-length" for name, _ in request.headers):
        kept.append((b"Content-Length", str(len(request.body)).encode()))
    connection = h11.Connection(h11.CLIENT)
    started = h11.Request(
        method=request.method,
        target=request.target.encode("latin-1"),
        headers=[*kept, (b"Connection", b"close")],
    )
    return connection, _events(connection, started, h11.Data(data=request.body), h11.EndOfMessage())


async def _open(engine: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    try:
        return await asyncio.open_unix_connection(engine)
    except OSError as error:
        raise Refused(f"cannot reach the engine at {engine}: {error}", 502) from None


async def _ask(engine: str, request: Request) -> tuple[int, bytes]:
    """The engine's whole answer to a request of the proxy's own (small: an inspect): (status, body)."""
    reader, writer = await _open(engine)
    try:
        connection, data = _forwarded(request)
        writer.write(data)
        await writer.drain()
        connection.receive_data(await reader.read(-1))
        connection.receive_data(b"")
    finally:
        writer.close()
    status, body = 0, b""
    while not isinstance(event := connection.next_event(), h11.EndOfMessage):
        if isinstance(event, h11.Response):
            status = event.status_code
        elif isinstance(event, h11.Data):
            body += event.data
        elif event is h11.NEED_DATA or isinstance(event, h11.ConnectionClosed):
            raise Refused("the engine closed the connection without an answer", 502)
    return status, body


async def _created(engine: str, request: Request, container: str) -> str:
    """The id of `container` if the engine shows the proxy's label on it, else Refused (with the
    engine's 404 where there is no such container, which a worker handles as gone)."""
    version = VERSION.match(request.path)
    if version is None:
        raise Refused(f"{request.path!r}: name an API version")
    inspect = Request("GET", f"{version[0]}/containers/{container}/json", [(b"Host", b"docker")], b"")
    status, body = await _ask(engine, inspect)
    if status == 404:
        raise Refused(f"no container {container!r}", 404)
    inspected: Any = json.loads(body) if status == 200 else {}
    if not created(inspected):
        raise Refused(f"container {container!r} was not started by a worker")
    return str(inspected["Id"])


async def _checked(policy: Policy, engine: str, request: Request) -> Request:
    """The request as the engine gets it, or Refused: checked, a create labelled, the container it acts
    on one the proxy created and named by its id."""
    container = policy.check(request.method, request.target, request.body)
    if container is None:
        if request.path.endswith("/containers/create"):
            return dataclasses.replace(request, body=labelled(request.body))
        return request
    container_id = await _created(engine, request, container)
    if request.path.endswith("/connect"):
        return dataclasses.replace(request, body=with_container(request.body, container_id))
    named = re.compile(rf"(?<=/containers/){re.escape(container)}(?=[/?]|$)")
    return dataclasses.replace(request, target=named.sub(lambda _: container_id, request.target, count=1))


async def _answer(writer: asyncio.StreamWriter, error: Exception) -> None:
    status = error.status if isinstance(error, Refused) else 403
    payload = json.dumps({"message": f"refused by the platform's engine proxy: {error}"}).encode()
    headers = [
        (b"Content-Type", b"application/json"),
        (b"Content-Length", str(len(payload)).encode()),
        (b"Connection", b"close"),
    ]
    response = h11.Response(status_code=status, headers=headers, reason=HTTPStatus(status).phrase.encode())
    writer.write(_events(h11.Connection(h11.SERVER), response, h11.Data(data=payload), h11.EndOfMessage()))
    await writer.drain()


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while chunk := await reader.read(65536):
        writer.write(chunk)
        await writer.drain()


async def handle(
    policy: Policy, engine: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        try:
            request = await _read_request(reader)
            if request is None:
                return
            request = await _checked(policy, engine, request)
            upstream_reader, upstream_writer = await _open(engine)
        except (Refused, ValueError, h11.RemoteProtocolError) as error:
            await _answer(writer, error)
            return
        try:
            upstream_writer.write(_forwarded(request)[1])
            await upstream_writer.drain()
            # Sent on as it comes: the engine closes when done (`Connection: close`).
            await _pump(upstream_reader, writer)
        finally:
            upstream_writer.close()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def serve(policy: Policy, engine: str, listen: str) -> None:
    """Listen on `host:port`, or on `unix:PATH` (a socket only its owner may open)."""

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await handle(policy, engine, reader, writer)

    if listen.startswith("unix:"):
        path = listen.removeprefix("unix:")
        if os.path.exists(path):
            os.unlink(path)
        server = await asyncio.start_unix_server(on_connection, path, limit=MAX_HEAD)
        os.chmod(path, 0o600)
    else:
        host, _, port = listen.rpartition(":")
        server = await asyncio.start_server(on_connection, host, int(port), limit=MAX_HEAD)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", default="0.0.0.0:2375", help="host:port, or unix:PATH, to listen on")
    parser.add_argument("--engine", default="/var/run/docker.sock", help="the engine's socket")
    parser.add_argument("--allow-network", action="append", default=[], help="a network flow runs may use")
    parser.add_argument("--allow-bind", action="append", default=[], help="a host folder flow runs may bind")
    args = parser.parse_args(argv)
    policy = Policy(frozenset(args.allow_network), frozenset(b for b in args.allow_bind if b))
    print(
        f"engine proxy on {args.listen} for {args.engine}: networks {sorted(policy.networks)}, "
        f"binds {sorted(policy.binds)}",
        flush=True,
    )
    asyncio.run(serve(policy, args.engine, args.listen))


if __name__ == "__main__":
    main()
