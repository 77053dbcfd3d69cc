"""The lake: Parquet partitions on any fsspec filesystem, each written atomically.

Layout (the contract other teams read):
    <lake>/raw/<source>/<table>/_schema.json                       declared schema
    <lake>/raw/<source>/<table>/date=YYYY-MM-DD/part-0.parquet     daily facts
    <lake>/raw/<source>/<table>/part-0.parquet                     reference tables
    <lake>/quarantine/<source>/<table>/date=YYYY-MM-DD/part-0.parquet   rejected rows, with reasons

A partition is written to a hidden temporary file beside its target and then moved over it. On a local
disk the move is a rename, so a reader sees the old file or the new one, never half of one, and a
writer killed mid-write leaves only a `.part-*.tmp` file that readers ignore. On object stores
(s3://, gs://) an object appears whole when its upload completes. Two runs writing the same partition
each write their own temporary file; the last move wins, and both wrote the same bytes.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
from collections.abc import Callable
from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from jaffle_data.storage import Storage

from jaffle_ingestion.schemas import Dataset


class LakeWriteError(OSError):
    """A partition could not be written (a full disk, a read-only or missing lake); nothing was replaced."""


class Lake:
    """A lake rooted at a local folder or any fsspec URL (memory://, s3://bucket/prefix, ...), written
    through the platform's `Storage` (its atomic writes)."""

    def __init__(self, url: str, options: dict[str, Any] | None = None) -> None:
        """`options`: the filesystem's (an object store's credentials, from the platform's block)."""
        self.url = url
        self.storage = Storage(url, options)

    @property
    def fs(self) -> Any:
        return self.storage.fs

    @property
    def root(self) -> str:
        return self.storage.root

    def __repr__(self) -> str:
        return f"Lake({self.url!r})"

    def path(self, *parts: str) -> str:
        return self.storage.path(*parts)

    def partition(self, dataset: Dataset, day: date | None = None, zone: str = "raw") -> str:
        base = self.path(zone, dataset.source, dataset.table)
        return posixpath.join(base, f"date={day.isoformat()}" if day else "", "part-0.parquet")

    def write(self, table: pa.Table, target: str) -> str:
        """Write `table` to `target` atomically; the same table always gives the same bytes."""
        return self._commit(
            target, lambda out: pq.write_table(table.replace_schema_metadata(None), out, compression="zstd")
        )

    def write_bytes(self, data: bytes, target: str) -> str:
        """Write a small file (a schema document) atomically."""
        return self._commit(target, lambda out: out.write(data))

    def _commit(self, target: str, fill: Callable[[Any], object]) -> str:
        inside = posixpath.relpath(target, self.root)
        if inside.startswith(".."):
            raise ValueError(f"{target} is not in the lake {self.url}")
        try:
            self.storage.write_with(fill, inside)
        except OSError as error:
            raise LakeWriteError(
                error.errno,
                f"could not write {target} in the lake {self.url}: {error.strerror or error}; "
                "the partition already there (if any) is unchanged",
            ) from error
        return target

    def remove(self, target: str) -> bool:
        """Remove a partition file if it exists (a day that no longer has quarantined rows)."""
        if not self.fs.exists(target):
            return False
        self.fs.rm(target)
        if self.storage.local:  # object stores have no empty folders to leave behind
            with contextlib.suppress(OSError):  # not empty: other files live there
                os.rmdir(posixpath.dirname(target))
        return True

    def read(self, target: str) -> pa.Table:
        with self.fs.open(target, "rb") as handle:
            return pq.read_table(handle)

    def exists(self, target: str) -> bool:
        return self.fs.exists(target)
