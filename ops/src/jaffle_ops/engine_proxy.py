"""A Docker Engine API proxy that lets a Docker worker do what starting flow runs takes, and nothing else.

The engine's socket is root on its host: a worker that holds it could start a privileged container
with `/` mounted. The compose stack's workers hold this proxy's address instead (on a network only
they and the proxy join). Every request is read whole and checked before it reaches the engine:

- allowed: ping, version, info; an image's inspect and pull; containers listed; the containers made
  through this proxy (and only those) inspected, started, waited on, stopped, killed, removed, their
  logs read and connected to an allowed network;
- a container create is allowed only without privileges, with every capability dropped and
  `no-new-privileges`, on an allowed network, with no host namespace, device or mount, and binds of
  allowed host folders only;
- everything else (exec, build, volumes, secrets, swarm, plugins, system, attach and upgrades) is
  refused with 403 and the reason.

The request is parsed strictly (CRLF lines only, no folded or repeated framing headers, no
Transfer-Encoding, a body only where one is checked, API version 1.24 or newer, JSON with ASCII keys
each given once) and forwarded rebuilt from what was parsed, with `Connection: close`, so what the
engine reads is exactly what was checked, one request per connection.

    python -m jaffle_ops.engine_proxy --listen 0.0.0.0:2375 --engine /var/run/docker.sock \\
        --allow-network jaffle-stack --allow-bind /srv/jaffle/data
    python -m jaffle_ops.engine_proxy --listen unix:/path/engine.sock ...   # a socket only its owner opens
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

MAX_HEAD = 64 * 1024
MAX_BODY = 4 * 1024 * 1024
OWNED = r"/containers/(?P<container>[A-Za-z0-9_.-]+)"
# (method, path without the /v1.xx prefix, whether a body is allowed) a worker needs
ALLOWED = [
    ("GET", r"/_ping", False),
    ("HEAD", r"/_ping", False),
    ("GET", r"/version", False),
    ("GET", r"/info", False),
    ("GET", r"/images/[^?#]+/json", False),
    ("POST", r"/images/create", False),
    ("GET", r"/containers/json", False),
    ("POST", r"/containers/create", True),
    ("GET", OWNED + r"/(json|logs)", False),
    ("POST", OWNED + r"/(start|wait|stop|kill)", False),
    ("DELETE", OWNED, False),
    ("GET", r"/networks/(?P<network>[A-Za-z0-9_.-]+)", False),
    ("POST", r"/networks/(?P<network>[A-Za-z0-9_.-]+)/connect", True),
]
VERSION = re.compile(r"^/v(?P<major>[0-9]+)\.(?P<minor>[0-9]+)(?=/)")
# Older API versions let `start` carry a HostConfig that replaces the checked one.
MIN_VERSION = (1, 24)
TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
HOST_NAMESPACES = ("pidmode", "ipcmode", "utsmode", "usernsmode", "cgroupnsmode", "cgroup")
# HostConfig fields a flow-run container never needs: refused whenever present (lower case: the engine
# matches field names that way).
FORBIDDEN = (
    "devices",
    "devicerequests",
    "devicecgrouprules",
    "mounts",
    "volumesfrom",
    "sysctls",
    "portbindings",
    "publishallports",
    "cgroupparent",
    "maskedpaths",
    "readonlypaths",
    "runtime",
)
NO_NEW_PRIVILEGES = {"no-new-privileges", "no-new-privileges:true", "no-new-privileges=true"}
LOG_DRIVERS = {"", "json-file", "local"}


class Refused(Exception):
    """A request the worker has no business making."""


def _strict_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object as the engine's decoder would see it, or Refused where the two could differ: Go
    matches field names case-blind with Unicode folding and merges a repeated object."""
    seen: set[str] = set()
    for key, _ in pairs:
        if not key.isascii():
            raise Refused(f"field name {key!r} is not ASCII")
        if key.lower() in seen:
            raise Refused(f"field {key!r} is given more than once")
        seen.add(key.lower())
    return {key.lower(): value for key, value in pairs}


def strict_json(body: bytes) -> Any:
    try:
        return json.loads(body or b"{}", object_pairs_hook=_strict_object)
    except json.JSONDecodeError as error:
        raise Refused(f"the body is not JSON: {error}") from None


@dataclass
class Policy:
    networks: frozenset[str] = frozenset()
    binds: frozenset[str] = field(default_factory=frozenset)
    # the containers created through this proxy: the only ones a worker may act on
    owned: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.binds = frozenset(_norm(b) for b in self.binds)

    def owns(self, reference: str) -> bool:
        return reference in self.owned or (
            len(reference) >= 12 and any(c.startswith(reference) for c in self.owned)
        )

    def check(self, method: str, target: str, headers: dict[str, str], body: bytes) -> None:
        """Raise Refused unless this request is one a Docker worker needs, harmlessly made."""
        path, _, query = target.partition("?")
        if "%" in path or "//" in path or any(part in (".", "..") for part in path.split("/")):
            raise Refused(f"{path!r}: encoded, empty or relative path segments are not allowed")
        version = VERSION.match(path)
        if version is None:
            # what a client asks before it knows the engine's version
            if (method, path) in {("GET", "/version"), ("GET", "/_ping"), ("HEAD", "/_ping")}:
                return
            raise Refused(f"{path!r}: name an API version ({'.'.join(map(str, MIN_VERSION))} or newer)")
        if (int(version["major"]), int(version["minor"])) < MIN_VERSION:
            raise Refused(f"{path!r}: name an API version of {'.'.join(map(str, MIN_VERSION))} or newer")
        path = path[version.end() :]
        for allowed_method, pattern, takes_body in ALLOWED:
            found = re.fullmatch(pattern, path)
            if method != allowed_method or not found:
                continue
            if body and not takes_body:
                raise Refused(f"{method} {path} takes no body")
            groups = found.groupdict()
            if groups.get("network") is not None and groups["network"] not in self.networks:
                raise Refused(f"network {groups['network']!r} is not one flow runs may use")
            if groups.get("container") is not None and not self.owns(groups["container"]):
                raise Refused(f"container {groups['container']!r} was not started by a worker")
            if path == "/images/create" and "fromsrc" in query.lower():
                raise Refused("importing an image (fromSrc) is not allowed: pull one")
            if path == "/containers/create":
                self.check_create(strict_json(body))
            if path.endswith("/connect"):
                container = str(strict_json(body).get("container") or "")
                if not self.owns(container):
                    raise Refused(f"container {container!r} was not started by a worker")
            return
        raise Refused(f"{method} {path} is not something a Docker worker does")

    def check_create(self, spec: Any) -> None:
        spec = spec if isinstance(spec, dict) else {}
        host = spec.get("hostconfig") if isinstance(spec.get("hostconfig"), dict) else {}
        if host.get("privileged"):
            raise Refused("privileged containers are not allowed")
        if host.get("capadd"):
            raise Refused(f"added capabilities are not allowed: {host['capadd']}")
        if "ALL" not in (host.get("capdrop") or []):
            raise Refused("a container must drop every capability (CapDrop: ALL)")
        options = [str(o) for o in host.get("securityopt") or []]
        if not options or any(o not in NO_NEW_PRIVILEGES for o in options):
            raise Refused(f"must run with no-new-privileges, no other security option: {options}")
        for key in HOST_NAMESPACES:
            if str(host.get(key) or "").startswith(("host", "container:")):
                raise Refused(f"sharing the host's or another container's namespace ({key}) is not allowed")
        network = str(host.get("networkmode") or "")
        if network not in self.networks and network != "none":
            raise Refused(f"network {network or 'default'!r} is not one flow runs may use")
        endpoints = (spec.get("networkingconfig") or {}).get("endpointsconfig") or {}
        for name in endpoints:
            if name not in self.networks:
                raise Refused(f"network {name!r} is not one flow runs may use")
        for key in FORBIDDEN:
            if key in host:
                raise Refused(f"{key} is not allowed")
        log = host.get("logconfig") or {}
        if str(log.get("type") or "") not in LOG_DRIVERS:
            raise Refused(f"log driver {log.get('type')!r} is not allowed")
        for bind in host.get("binds") or []:
            source = _norm(str(bind).split(":", 1)[0])
            if source not in self.binds:
                raise Refused(f"binding {source!r} is not allowed (only {sorted(self.binds)})")


def _norm(path: str) -> str:
    return os.path.normpath(path) if path.startswith("/") else path


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, list[tuple[str, str]], bytes] | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    except asyncio.LimitOverrunError:
        raise Refused("request head too large") from None
    lines = head[:-4].split(b"\r\n")
    if any(b"\r" in line or b"\n" in line for line in lines):
        raise Refused("header lines must end with CRLF")
    request_line, *header_lines = (line.decode("latin-1") for line in lines)
    parts = request_line.split(" ")
    if len(parts) != 3 or not TOKEN.fullmatch(parts[0]) or parts[2] not in ("HTTP/1.0", "HTTP/1.1"):
        raise Refused(f"malformed request line {request_line!r}")
    method, target, _ = parts
    headers: list[tuple[str, str]] = []
    for line in header_lines:
        name, colon, value = line.partition(":")
        if not colon or not TOKEN.fullmatch(name):
            raise Refused(f"malformed header line {line!r}")
        headers.append((name, value.strip(" \t")))
    names = [n.lower() for n, _ in headers]
    if "transfer-encoding" in names:
        raise Refused("Transfer-Encoding is not allowed: send a Content-Length")
    if names.count("content-length") > 1 or names.count("host") > 1:
        raise Refused("a framing header is given more than once")
    length_text = next((v for n, v in headers if n.lower() == "content-length"), "0")
    if not length_text.isdigit() or int(length_text) > MAX_BODY:
        raise Refused(f"bad Content-Length {length_text!r}")
    length = int(length_text)
    body = await reader.readexactly(length) if length else b""
    return method, target, headers, body


def _forwarded_head(method: str, target: str, headers: list[tuple[str, str]]) -> bytes:
    """The request rebuilt from what was parsed, with `Connection: close`."""
    kept = [
        f"{n}: {v}"
        for n, v in headers
        if n.lower() not in ("connection", "keep-alive", "upgrade", "proxy-connection", "te")
    ]
    return ("\r\n".join([f"{method} {target} HTTP/1.1", *kept, "Connection: close"]) + "\r\n\r\n").encode(
        "latin-1"
    )


async def _answer(writer: asyncio.StreamWriter, status: str, reason: str) -> None:
    payload = json.dumps({"message": f"refused by the platform's engine proxy: {reason}"}).encode()
    writer.write(
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nConnection: close\r\n".encode()
        + f"Content-Length: {len(payload)}\r\n\r\n".encode()
        + payload
    )
    await writer.drain()


async def _read_response(reader: asyncio.StreamReader) -> tuple[bytes, int, bytes]:
    """A whole engine response (the create answer: small), raw and decoded: (raw, status, body)."""
    raw = await reader.read(-1)
    head, _, rest = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in head.lower():
        body = b""
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                break
            body, rest = body + rest[:size], rest[size + 2 :]
        return raw, status, body
    return raw, status, rest


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
            method, target, headers, body = request
            policy.check(method, target, dict((n.lower(), v) for n, v in headers), body)
        except (Refused, ValueError) as error:
            await _answer(writer, "403 Forbidden", str(error))
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_unix_connection(engine)
        except OSError as error:
            await _answer(writer, "502 Bad Gateway", f"cannot reach the engine at {engine}: {error}")
            return
        try:
            upstream_writer.write(_forwarded_head(method, target, headers) + body)
            await upstream_writer.drain()
            if method == "POST" and target.split("?", 1)[0].endswith("/containers/create"):
                raw, status, answer = await _read_response(upstream_reader)
                if status == 201:
                    policy.owned.add(str(json.loads(answer)["Id"]))
                writer.write(raw)
                await writer.drain()
            else:
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
