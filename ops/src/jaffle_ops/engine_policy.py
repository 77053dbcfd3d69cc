"""What the engine proxy (`engine_proxy.py`) lets a Docker worker ask of the engine.

- allowed: ping, version, info; an image's inspect and pull; containers listed; the containers made
  through the proxy (and only those) inspected, started, waited on, stopped, killed, removed, their
  logs read and connected to an allowed network;
- a container create is allowed only without privileges, with every capability dropped and
  `no-new-privileges`, on an allowed network, with no host namespace, device or mount, and binds of
  allowed host folders only;
- everything else (exec, build, volumes, secrets, swarm, plugins, system, attach and upgrades) is
  refused with the reason.

The proxy puts `LABEL` on every container it creates, and the engine keeps it: whether a container was
made through the proxy is read from the engine, so it outlives the proxy's restarts. Only what holds
the engine's own socket (root on its host already) can label a container otherwise.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# The platform's Docker label namespace is `dev.jaffle.` (its images carry dev.jaffle.team, set in
# docker/platform.Dockerfile); this label marks the containers a worker made through the proxy.
LABEL = "dev.jaffle.engine-proxy"
LABEL_VALUE = "created"
CONTAINER = r"[A-Za-z0-9_.-]+"
OWNED = rf"/containers/(?P<container>{CONTAINER})"
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
    """A request the worker has no business making; `status` is what it is answered (403 unless the
    engine's own answer, such as 404 for no such container, says more)."""

    def __init__(self, reason: str, status: int = 403) -> None:
        super().__init__(reason)
        self.status = status


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


def _rewritten(body: bytes, name: str, value: Callable[[Any], Any]) -> bytes:
    """A checked body with its field `name` (matched case-blind, as the engine does) set to
    `value(what it was)`. The body passed `strict_json`, so no field is given twice."""
    spec = json.loads(body or b"{}")
    if not isinstance(spec, dict):
        raise Refused("the body must be a JSON object")
    key = next((k for k in spec if k.lower() == name), name)
    spec[key] = value(spec.get(key))
    return json.dumps(spec).encode()


def _with_label(labels: Any) -> dict[str, Any]:
    if labels is not None and not isinstance(labels, dict):
        raise Refused(f"Labels must be an object, not {labels!r}")
    return {**(labels or {}), LABEL: LABEL_VALUE}


def labelled(body: bytes) -> bytes:
    """A checked create body with the label that marks the container as made through the proxy."""
    return _rewritten(body, "labels", _with_label)


def with_container(body: bytes, container_id: str) -> bytes:
    """A checked network-connect body naming the container by the id that was checked."""
    return _rewritten(body, "container", lambda _: container_id)


def created(inspected: Any) -> bool:
    """Whether the engine's inspect of a container shows the label the proxy puts on what it creates."""
    config = inspected.get("Config") if isinstance(inspected, dict) else None
    labels = config.get("Labels") if isinstance(config, dict) else None
    return isinstance(labels, dict) and labels.get(LABEL) == LABEL_VALUE


@dataclass
class Policy:
    networks: frozenset[str] = frozenset()
    binds: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        self.binds = frozenset(_norm(b) for b in self.binds)

    def check(self, method: str, target: str, body: bytes) -> str | None:
        """Raise Refused unless this request is one a Docker worker needs, harmlessly made. Return the
        container it acts on, if any: the caller asks the engine whether that one carries `LABEL`."""
        path, _, query = target.partition("?")
        if "%" in path or "//" in path or any(part in (".", "..") for part in path.split("/")):
            raise Refused(f"{path!r}: encoded, empty or relative path segments are not allowed")
        version = VERSION.match(path)
        if version is None:
            # what a client asks before it knows the engine's version
            if (method, path) in {("GET", "/version"), ("GET", "/_ping"), ("HEAD", "/_ping")}:
                return None
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
            if path == "/images/create" and "fromsrc" in query.lower():
                raise Refused("importing an image (fromSrc) is not allowed: pull one")
            if path == "/containers/create":
                self.check_create(strict_json(body))
            if path.endswith("/connect"):
                container = str(strict_json(body).get("container") or "")
                if not re.fullmatch(CONTAINER, container):
                    raise Refused(f"container {container!r} was not started by a worker")
                return container
            return groups.get("container")
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
