"""The runtime record every flow run leaves: which interpreter, container and library versions ran it
(the isolation evidence the platform's tests read back)."""

from __future__ import annotations

import os
import re
import sys
from importlib.metadata import version
from pathlib import Path

DESCRIPTION = "Interpreter and library versions of this run"


def container_id() -> str:
    """The Docker container this run executes in (12 hex), or '' outside a container."""
    for source in ("/proc/self/cgroup", "/proc/self/mountinfo"):
        try:
            text = Path(source).read_text()
        except OSError:
            continue
        found = re.search(r"(?:docker[/-]|/containers/)([0-9a-f]{64})", text)
        if found:
            return found.group(1)[:12]
    return ""


def runtime_record(libraries: tuple[str, ...]) -> dict[str, str]:
    """This interpreter, its container, the installed versions of `libraries`, and the names (never the
    values) of the environment variables the run was given: what reached it from its worker."""
    return {
        "sys_prefix": sys.prefix,
        "container_id": container_id(),
        "python": sys.version.split()[0],
        **{library: version(library) for library in libraries},
        "environment": " ".join(sorted(os.environ)),
    }


def artifact_key(team: str) -> str:
    """The key of a team's runtime artifact (`runtime-<team>`)."""
    return f"runtime-{team}"
