"""Each package's hatch environment, and the clean environment the processes we start inherit."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

from jaffle_ops.errors import PlatformError

# What the processes the platform starts (server, workers, and the flow runs they start) take from the
# caller's shell: the system's basics, its proxy and CA settings, the Docker client's, and the platform's
# own non-secret `JAFFLE_*` settings. Nothing else (cloud keys, database passwords) reaches them: the
# credentials a flow needs come from Prefect Secret blocks.
ALLOWED = frozenset(
    {
        *("PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM"),
        *("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "PIP_CERT"),
        *("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"),
        *("DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY"),
        *("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED"),
    }
)
SECRET_WORDS = ("PASSWORD", "SECRET", "TOKEN", "KEY", "AUTH", "CREDENTIAL")


def allowed(name: str) -> bool:
    """Whether a variable of the caller's shell may reach the platform's processes."""
    if name.startswith("JAFFLE_"):
        return not any(word in name for word in SECRET_WORDS)
    return name in ALLOWED or name.startswith("LC_")


def platform_environ() -> dict[str, str]:
    """The allow-listed part of our environment, without the platform's own interpreter on PATH."""
    env = {k: v for k, v in os.environ.items() if allowed(k)}
    env["PATH"] = _without_own_bin(env.get("PATH", ""))
    return env


def tool_environ() -> dict[str, str]:
    """For the tools the CLI runs on the caller's behalf (hatch): the caller's environment without the
    platform's own interpreter or hatch/Prefect settings leaking in."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_", "HATCH_ENV_"))
        and k not in {"VIRTUAL_ENV", "UV_CONSTRAINT", "PLATFORM_PACKAGE", "PYTHONPATH"}
    }
    env["PATH"] = _without_own_bin(env.get("PATH", ""))
    return env


def _without_own_bin(path: str) -> str:
    own_bin = str(Path(sys.executable).parent)
    return os.pathsep.join(p for p in path.split(os.pathsep) if p != own_bin)


@functools.cache
def hatch_env_path(env: str) -> Path:
    """Create (if needed, from its lock) and locate a package's hatch environment (the workspace's:
    hatch reads the repository's pyproject.toml, wherever the caller stands)."""
    from jaffle_ops.workspace import repo_root

    clean, root = tool_environ(), repo_root()
    created = subprocess.run(
        ["hatch", "env", "create", env], capture_output=True, text=True, env=clean, cwd=root
    )
    if created.returncode != 0:
        raise PlatformError(f"could not create the {env} environment:\n{created.stdout}{created.stderr}")
    found = subprocess.run(
        ["hatch", "env", "find", env], check=True, capture_output=True, text=True, env=clean, cwd=root
    )
    return Path(found.stdout.strip())
