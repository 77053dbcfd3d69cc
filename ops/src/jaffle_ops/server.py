"""The platform's Prefect server: Prefect's own `prefect server start`, with one change on SQLite.

Prefect begins most of its write transactions DEFERRED. On SQLite (WAL mode) a deferred transaction
that has read and then writes, after another connection committed in between, fails at once with
"database is locked": SQLite cannot wait for it (its snapshot is stale), so the busy timeout never
applies, and the API answers 503. With a handful of workers polling, runs heartbeating and a
backfill creating runs, that happens to a UI click or a worker heartbeat every few minutes.
`BEGIN IMMEDIATE` takes the write lock first and waits for it (up to the busy timeout, 60 s), so
writers queue instead of failing; reads outside transactions are untouched. Django 5.1
(`transaction_mode`) and Rails 8 made the same choice for SQLite. On PostgreSQL nothing changes.

Run as `python -m jaffle_ops.server start ...` with the arguments of `prefect server start`.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, AsyncSessionTransaction


def immediate_sqlite_configuration(connection_url: str) -> Any:
    """Prefect's SQLite configuration, with every transaction it begins taking the write lock first."""
    from prefect.server.database.configurations import AioSqliteConfiguration

    class ImmediateSqliteConfiguration(AioSqliteConfiguration):
        @asynccontextmanager
        async def begin_transaction(
            self, session: AsyncSession, with_for_update: bool = False
        ) -> AsyncGenerator[AsyncSessionTransaction, None]:
            async with super().begin_transaction(session, with_for_update=True) as transaction:
                yield transaction

    return ImmediateSqliteConfiguration(connection_url=connection_url)


def install() -> bool:
    """Make the server this process runs use IMMEDIATE transactions if its database is SQLite."""
    from prefect.server.database.dependencies import MODELS_DEPENDENCIES
    from prefect.settings import get_current_settings

    url = get_current_settings().server.database.connection_url
    connection_url = url.get_secret_value() if url is not None else ""
    if not connection_url.startswith("sqlite"):
        return False
    MODELS_DEPENDENCIES["database_config"] = immediate_sqlite_configuration(connection_url)
    return True


def main(argv: list[str]) -> int:
    from prefect.cli import app

    install()
    sys.argv = ["prefect", "server", *argv]
    app()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
