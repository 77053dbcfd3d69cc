"""The platform's API secret: made once by `up`, kept under the platform home, readable by its owner only.

Prefect's basic auth compares the whole `user:password` string (`PREFECT_SERVER_API_AUTH_STRING` on the
server, `PREFECT_API_AUTH_STRING` for every client: this CLI, the workers, the flow runs they start).
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from jaffle_ops.errors import PlatformError

USER = "jaffle"


def auth_file(home: Path) -> Path:
    return home / "secrets" / "api-auth"


def read_auth_string(home: Path) -> str | None:
    """The secret `up` made for this home, or None if it made none yet. A file others may read is
    refused: the secret would no longer be one."""
    path = auth_file(home)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise PlatformError(
            f"{path} is readable by others (mode {stat.filemode(mode)}): the API secret is no longer "
            "secret; rotate it with ./dev rotate-secret"
        )
    value = path.read_text().strip()
    if not value.startswith(f"{USER}:") or len(value) <= len(USER) + 1:
        raise PlatformError(f"{path} holds no API secret ({USER}:...); rotate it with ./dev rotate-secret")
    return value


def ensure_auth_string(home: Path) -> str:
    """The home's secret, made now if it has none (never replaced here: see `rotate`)."""
    return read_auth_string(home) or rotate(home)


def rotate(home: Path) -> str:
    """Write a new secret atomically (mode 0600 from the start, in a 0700 folder) and return it."""
    path = auth_file(home)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
    value = f"{USER}:{secrets.token_urlsafe(32)}"
    scratch = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(value + "\n")
        os.replace(scratch, path)
    finally:
        scratch.unlink(missing_ok=True)
    return value
