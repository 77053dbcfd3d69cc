"""One platform as the CLI sees it: its home on disk, the Prefect API it talks to, and the environment
of every process it starts."""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from jaffle_ops import recovery, secrets
from jaffle_ops.environments import platform_environ
from jaffle_ops.errors import PlatformError
from jaffle_ops.processes import Supervisor
from jaffle_ops.settings import DEFAULT_BASE_IMAGE, OpsSettings

INFRAS = ("process", "docker", "kubernetes")
LAUNCHERS = ("warm", "stock")
# A Unix socket's path is at most 107 bytes (sun_path).
_SOCKET_PATH_MAX = 107


def same_api(url: str) -> str:
    """A URL as a key for "is this the same API": no trailing slash, localhost as 127.0.0.1."""
    return url.strip().rstrip("/").replace("://localhost", "://127.0.0.1")


@dataclass
class Platform:
    root: Path
    home: Path
    port: int
    # A Prefect API this CLI did not start (another machine, the compose stack, Prefect Cloud):
    # deploy, run, backfill and status talk to it; up, down and demo manage only the local platform.
    remote_api_url: str | None = None
    # PREFECT_API_URL as the caller's shell has it: only for hints.
    ambient_api_url: str | None = None
    # A registry the team images are pushed to, for workers on other machines; without one,
    # deployments use the images built on this engine.
    registry: str | None = None
    base_image: str = DEFAULT_BASE_IMAGE
    # The basic-auth `user:password` of a remote API (the local platform's is in its home).
    remote_auth_string: str | None = None
    # A Prefect Cloud API key (used only when the remote API is Prefect Cloud's).
    cloud_api_key: str | None = None
    # Where Docker flow runs find the data (`pools.data_mount`): a named volume, a shared folder, or
    # unset for this home's data folder; none at all when the data root is an object store (data_url).
    docker_data: str | None = None
    data_url: str | None = None

    @classmethod
    def from_settings(
        cls,
        root: Path,
        settings: OpsSettings,
        *,
        home: Path | None = None,
        port: int | None = None,
        remote_api_url: str | None = None,
        registry: str | None = None,
    ) -> Platform:
        """The platform the settings name; values given on the command line override them."""
        return cls(
            root=root,
            home=(home or settings.platform_home or root / ".platform").resolve(),
            port=port or settings.platform_port,
            remote_api_url=remote_api_url or settings.api_url,
            ambient_api_url=settings.ambient_api_url,
            registry=registry or settings.registry,
            base_image=settings.base_image,
            remote_auth_string=(
                settings.api_auth_string.get_secret_value() if settings.api_auth_string else None
            ),
            cloud_api_key=settings.prefect_api_key.get_secret_value() if settings.prefect_api_key else None,
            docker_data=settings.docker_data,
            data_url=settings.data_url,
        )

    @property
    def api_url(self) -> str:
        return self.remote_api_url or f"http://127.0.0.1:{self.port}/api"

    @property
    def ui_url(self) -> str:
        if self.remote_api_url:
            return self.remote_api_url.rstrip("/").removesuffix("/api")
        return f"http://127.0.0.1:{self.port}"

    def no_server(self) -> PlatformError:
        if self.remote_api_url:
            return PlatformError(f"no Prefect server at {self.api_url}: is it up?")
        hint = "run ./dev up first"
        if self.ambient_api_url and same_api(self.ambient_api_url) != same_api(self.api_url):
            hint += (
                f", or target PREFECT_API_URL ({self.ambient_api_url}) with "
                '--api-url "$PREFECT_API_URL" (or JAFFLE_API_URL)'
            )
        return PlatformError(f"no Prefect server at {self.api_url}: {hint}")

    def local_only(self, command: str) -> None:
        if self.remote_api_url:
            raise PlatformError(
                f"`{command}` manages the local platform's processes; it does not take --api-url "
                f"({self.remote_api_url}). Use deploy, run, backfill or status against that API."
            )

    @property
    def auth_string(self) -> str | None:
        """The API's basic-auth secret: the remote API's from the settings, the local one's from its
        home (None before `up` made it)."""
        if self.remote_api_url:
            return self.remote_auth_string
        return secrets.read_auth_string(self.home)

    @property
    def api_key(self) -> str | None:
        """The Cloud API key, for a Prefect Cloud API only: no other server ever receives it."""
        host = urlsplit(self.remote_api_url or "").hostname or ""
        return self.cloud_api_key if host == "prefect.cloud" or host.endswith(".prefect.cloud") else None

    @property
    def ui_origins(self) -> str:
        """The only origins the local server lets browsers call it from (CORS): its own UI's."""
        return f"http://127.0.0.1:{self.port},http://localhost:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def prefect_home(self) -> Path:
        return self.home / "prefect"

    @property
    def lease_dir(self) -> Path:
        """Where the local server keeps its concurrency leases (under its PREFECT_HOME)."""
        return self.prefect_home / "concurrency_leases"

    @property
    def processes(self) -> Supervisor:
        return Supervisor(self.home)

    @property
    def logs(self) -> Path:
        return self.processes.logs

    @property
    def infra(self) -> str:
        """Where flow runs execute: `process` (each team's hatch environment) or `docker` (its image)."""
        path = self.home / "infra"
        return path.read_text().strip() if path.exists() else "process"

    @infra.setter
    def infra(self, value: str) -> None:
        if value not in INFRAS:
            raise PlatformError(f"the infrastructure is one of {', '.join(INFRAS)}, not {value!r}")
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "infra").write_text(value + "\n")

    def environ(self, env_bin: Path | None = None, **extra: str) -> dict[str, str]:
        """The environment of a process we start: this platform's API, data, and (for a package's
        process) that package's interpreter first on PATH."""
        env = platform_environ()
        if env_bin:
            env["PATH"] = f"{env_bin}{os.pathsep}{env['PATH']}"
        env.update(
            {
                "PREFECT_API_URL": self.api_url,
                "PREFECT_UI_URL": self.ui_url,
                "PREFECT_HOME": str(self.prefect_home),
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_LOGGING_LEVEL": "INFO",
                "JAFFLE_DATA_DIR": str(self.data_dir),
                "JAFFLE_REPO_ROOT": str(self.root),
            }
        )
        if env.get("JAFFLE_DATA_URL"):  # the data lives on an object store: scratch stays in the home
            env.setdefault("JAFFLE_WORK_DIR", str(self.home / "work"))
        if auth := self.auth_string:
            env["PREFECT_API_AUTH_STRING"] = auth
        env.update(extra)
        return env

    def worker_environ(self, env_bin: Path, package: Path, warm_socket: Path | None = None) -> dict[str, str]:
        """A worker's environment: how often it polls its pool, the pull step's folder, heartbeats, and
        the socket of its team's warm parent (when the launcher is warm)."""
        from jaffle_runtime.launcher import SOCKET_ENV

        return self.environ(
            env_bin,
            # Process workers (jaffle_runtime.worker) take a run on its Scheduled event; their poll is
            # the safety net for an event missed in a server restart. Docker workers poll alone.
            PREFECT_WORKER_QUERY_SECONDS="2" if self.infra == "process" else "1",
            PREFECT_WORKER_PREFETCH_SECONDS="5",
            JAFFLE_PACKAGE_DIR=str(package),  # the deployments' pull step goes here
            **recovery.flow_run_environment(),  # heartbeats: a dead run is marked Crashed
            **({SOCKET_ENV: str(warm_socket)} if warm_socket else {}),
        )

    @property
    def launcher(self) -> str:
        """How process workers start flow runs: `warm` (forked from the team's warm parent) or
        `stock` (Prefect's `python -m prefect.engine`)."""
        path = self.home / "launcher"
        return path.read_text().strip() if path.exists() else "warm"

    @launcher.setter
    def launcher(self, value: str) -> None:
        if value not in LAUNCHERS:
            raise PlatformError(f"the launcher is one of {', '.join(LAUNCHERS)}, not {value!r}")
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "launcher").write_text(value + "\n")

    @property
    def warm(self) -> bool:
        """Whether this platform's flow runs start from warm parents (process pools only)."""
        return self.infra == "process" and self.launcher == "warm"

    def warm_socket(self, env: str) -> Path:
        """Where the team's warm parent listens: under the home, or, for a home too deep for a Unix
        socket's path, in a folder of this home's own under the temporary directory (this user's only)."""
        path = self.home / "run" / f"warm-{env}.sock"
        if len(str(path).encode()) <= _SOCKET_PATH_MAX:
            return path
        digest = hashlib.sha256(str(self.home.resolve()).encode()).hexdigest()[:12]
        folder = Path(tempfile.gettempdir()) / f"jaffle-{digest}"
        folder.mkdir(mode=0o700, exist_ok=True)
        held = folder.lstat()
        if not stat.S_ISDIR(held.st_mode) or held.st_uid != os.getuid() or held.st_mode & 0o077:
            raise PlatformError(f"{folder} (the warm parents' sockets) is not a private folder of this user")
        return folder / f"warm-{env}.sock"
