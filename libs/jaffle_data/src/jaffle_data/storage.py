"""Where the platform's data lives: one root, a local folder or any fsspec URL (s3://bucket/prefix).

Every team reads and writes the datasets it hands over (lake, warehouse, dashboard) through a
`Storage` on that root, and keeps what is only its own scratch (a dbt build database, dbt's target
folder, downloaded copies) in a local work folder:

    JAFFLE_DATA_DIR   the local data folder (default `data`), the root unless JAFFLE_DATA_URL is set
    JAFFLE_DATA_URL   the root as an fsspec URL, e.g. s3://jaffle/data
    JAFFLE_WORK_DIR   local scratch (default: the data folder when the root is local, else a folder
                      under the user's cache)

Credentials never travel as parameters. A flow run reads the object store's options (s3fs's: key,
secret, client_kwargs such as endpoint_url) from the Prefect Secret block `jaffle-data-credentials`,
which `./dev up` saves from the operator's AWS_* variables; where AWS_ACCESS_KEY_ID is set (a person
running a flow by hand, a test) or the block does not exist (a cluster's workload identity), s3fs finds
credentials as it always does. Writes are atomic: a local file is written beside its target and
renamed over it; an object store makes an object visible only once its upload completes.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import posixpath
import shutil
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, BinaryIO

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The Prefect Secret block with the object store's options (s3fs's storage options), saved by `up`.
CREDENTIALS_BLOCK = "jaffle-data-credentials"


class Storage:
    """The platform's data root, and the atomic reads and writes the teams need on it."""

    def __init__(self, url: str | os.PathLike[str], options: dict[str, Any] | None = None) -> None:
        self.url = str(url)
        self.options = dict(options or {})

    def __repr__(self) -> str:
        return f"Storage({self.url!r})"

    @cached_property
    def _resolved(self) -> tuple[Any, str]:
        import fsspec

        fs, root = fsspec.core.url_to_fs(self.url, **self.options)
        return fs, root.rstrip("/") or "/"

    @property
    def fs(self) -> Any:
        return self._resolved[0]

    @property
    def root(self) -> str:
        return self._resolved[1]

    @property
    def local(self) -> bool:
        from fsspec.implementations.local import LocalFileSystem

        return isinstance(self.fs, LocalFileSystem)

    @property
    def protocol(self) -> str:
        protocol = self.fs.protocol
        return protocol if isinstance(protocol, str) else protocol[0]

    def path(self, *parts: str) -> str:
        """A path on the root's filesystem (what `fs` takes)."""
        return posixpath.join(self.root, *parts)

    def uri(self, *parts: str) -> str:
        """A full address for people, logs and other libraries: a local path, or `<protocol>://...`."""
        path = self.path(*parts)
        return path if self.local else f"{self.protocol}://{path}"

    def local_path(self, *parts: str) -> Path:
        """The local path of a file under a local root (a local root only)."""
        if not self.local:
            raise ValueError(f"{self.url} is not a local folder")
        return Path(self.path(*parts))

    def exists(self, *parts: str) -> bool:
        return bool(self.fs.exists(self.path(*parts)))

    def glob(self, *parts: str) -> list[str]:
        """Paths (relative to the root) matching a pattern under it, sorted."""
        found = self.fs.glob(self.path(*parts))
        prefix = self.root.rstrip("/") + "/"
        return sorted(str(p).removeprefix(prefix) for p in found)

    def link(self, *parts: str) -> str:
        """An address to open a file at: a file:// URL under a local root, else its URL."""
        return Path(self.path(*parts)).resolve().as_uri() if self.local else self.uri(*parts)

    def modified(self, *parts: str) -> datetime | None:
        """When a file was last written (None: no such file)."""
        try:
            when: datetime = self.fs.modified(self.path(*parts))
        except (FileNotFoundError, NotImplementedError):
            return None
        return when if when.tzinfo else when.replace(tzinfo=UTC)

    def read_bytes(self, *parts: str) -> bytes:
        with self.fs.open(self.path(*parts), "rb") as handle:
            return bytes(handle.read())

    def identity(self, *parts: str) -> str | None:
        """What tells one version of a file from another (None: no such file): inode, size and
        modification time locally; the ETag (or size and time) on an object store."""
        try:
            info = self.fs.info(self.path(*parts))
        except FileNotFoundError:
            return None
        if self.local:
            stat = os.stat(self.path(*parts))
            return f"{stat.st_ino}:{stat.st_size}:{stat.st_mtime_ns}"
        tag = info.get("ETag") or info.get("etag")
        when = info.get("LastModified") or info.get("mtime") or info.get("last_modified")
        return f"{tag or ''}:{info.get('size')}:{when}"

    def write_bytes(self, data: bytes, *parts: str, mode: int | None = None) -> str:
        """Write a small file atomically; returns its path."""
        return self.write_with(lambda out: out.write(data), *parts, mode=mode)

    def write_with(self, fill: Callable[[BinaryIO], object], *parts: str, mode: int | None = None) -> str:
        """Write a file atomically from `fill`, which writes its bytes to a binary handle; returns its
        path. Under a local root they stream into a hidden file beside the target, renamed over it once
        complete and on disk: a reader sees the old file or the new one, and a writer killed midway leaves
        only a hidden `.tmp`. On an object store the object is uploaded whole once `fill` is done."""
        target = self.path(*parts)
        if not self.local:
            buffer = io.BytesIO()
            fill(buffer)
            self.fs.pipe_file(target, buffer.getvalue())
            return target

        def into(scratch: Path) -> None:
            with scratch.open("wb") as out:
                fill(out)

        _replace(Path(target), into, mode)
        return target

    def put(self, local: Path, *parts: str, mode: int | None = None, move: bool = False) -> str:
        """Publish a local file at `parts` atomically. `move`: the local file is scratch, and under a
        local root on the same disk it is renamed into place rather than copied."""
        target = self.path(*parts)
        if not self.local:
            self.fs.put_file(str(local), target)
            if move:
                local.unlink()
            return target
        _replace(
            Path(target),
            lambda scratch: shutil.move(local, scratch) if move else shutil.copyfile(local, scratch),
            mode,
        )
        return target

    def remove(self, *parts: str) -> bool:
        """Remove a file; False when there was none (an object store would not say)."""
        target = self.path(*parts)
        if not self.fs.exists(target):
            return False
        try:
            self.fs.rm_file(target)
        except FileNotFoundError:
            return False
        return True

    def fetch(self, cache: Path, *parts: str) -> Path:
        """A local file to read (a DuckDB warehouse to open read-only): under a local root the file
        itself; otherwise a copy under `cache`, downloaded again only when the file changed. Either way
        the path does not exist when the file does not.

        Each version is its own file, named after the version (never replaced in place), so readers in
        other processes sharing the cache never see one version under another's name; older versions
        are removed once a newer one is there."""
        if self.local:
            return self.local_path(*parts)
        folder = cache / self.protocol / self.path(*parts).lstrip("/")
        identity = self.identity(*parts)
        if identity is None:
            return folder / "missing"
        digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
        copy = folder / f"{digest}-{posixpath.basename(self.path(*parts))}"
        if copy.exists():
            return copy
        folder.mkdir(parents=True, exist_ok=True)
        scratch = folder / f".{copy.name}-{uuid.uuid4().hex}.tmp"
        try:
            self.fs.get_file(self.path(*parts), str(scratch))
            os.replace(scratch, copy)
        finally:
            scratch.unlink(missing_ok=True)
        for older in folder.iterdir():
            if older != copy and not older.name.startswith("."):
                with contextlib.suppress(OSError):  # a reader that still has it open keeps its copy
                    older.unlink()
        return copy

    def register(self, connection: Any) -> None:
        """Let a DuckDB connection read and write this root's URLs through fsspec (DuckDB's own
        extensions for object stores would be downloaded at run time, which we never do)."""
        if not self.local:
            with contextlib.suppress(Exception):  # registered already, on a shared connection
                connection.unregister_filesystem(self.protocol)
            connection.register_filesystem(self.fs)


def _replace(target: Path, fill: Callable[[Path], object], mode: int | None) -> None:
    """Fill a hidden file beside a local `target`, then rename it over `target`: a reader sees the old
    file or the new one, never half of one; what a failure leaves behind is removed."""
    scratch = target.with_name(f".{target.name}-{uuid.uuid4().hex}.tmp")
    scratch.parent.mkdir(parents=True, exist_ok=True)
    try:
        fill(scratch)
        if mode is not None:
            scratch.chmod(mode)
        descriptor = os.open(scratch, os.O_RDONLY)
        try:  # on disk before it takes the target's name: a power cut leaves the old file or the new one
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(scratch, target)
    finally:
        scratch.unlink(missing_ok=True)


class DataSettings(BaseSettings):
    """The data root and the work folder, as every team reads them (`JAFFLE_*`)."""

    model_config = SettingsConfigDict(env_prefix="JAFFLE_")

    data_dir: Path = Path("data")
    data_url: str | None = None
    work_dir: Path | None = None

    @model_validator(mode="after")
    def _a_work_folder(self) -> DataSettings:
        if self.work_dir is None:
            if self.data_url is None:
                self.work_dir = self.data_dir
            elif self.storage.local:  # a local folder given as a URL: scratch beside the data
                self.work_dir = Path(self.storage.root)
            else:
                self.work_dir = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "jaffle"
        self.work_dir = self.work_dir.resolve()
        return self

    @cached_property
    def storage(self) -> Storage:
        if self.data_url is None or Storage(self.data_url).local:
            return Storage(self.data_url or self.data_dir.resolve())
        return Storage(self.data_url, credentials())


def credentials() -> dict[str, Any]:
    """The object store's options for a flow run: from the Prefect Secret block `CREDENTIALS_BLOCK`,
    unless the environment carries credentials itself (AWS_ACCESS_KEY_ID) or there is no such block."""
    if os.environ.get("AWS_ACCESS_KEY_ID") or not os.environ.get("PREFECT_API_URL"):
        return {}
    from prefect.blocks.system import Secret

    try:
        block: Secret[Any] = Secret.load(CREDENTIALS_BLOCK, _sync=True)  # type: ignore[call-arg,assignment]
        value = block.get()
    except ValueError:  # no such block
        return {}
    return dict(value) if isinstance(value, dict) else {}
