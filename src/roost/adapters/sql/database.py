"""The database handle: an async SQLAlchemy engine, write transactions, and a statement counter.

SQLite (embedded profile) allows one writer at a time, so write transactions take an in-process
lock and start with BEGIN IMMEDIATE; readers never wait on writers thanks to WAL mode.
PostgreSQL failures to connect surface as `Unavailable` (HTTP 503), never as a 500.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from roost.core.errors import Unavailable

_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=10000",
    "PRAGMA cache_size=-65536",
    "PRAGMA temp_store=MEMORY",
)


class StatementCounter:
    """Counts queries sent to the database (not BEGIN), so tests can pin the feed's query count."""

    def __init__(self) -> None:
        self.count = 0
        self.recent: list[str] = []

    def reset(self) -> None:
        self.count = 0
        self.recent.clear()

    def record(self, statement: str) -> None:
        if statement.startswith("BEGIN"):
            return
        self.count += 1
        if len(self.recent) < 100:
            self.recent.append(statement)


class Database:
    def __init__(self, url: str, *, pool_size: int = 10, max_overflow: int = 10) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.statements = StatementCounter()
        self._commit_listeners: list[Callable[[], None]] = []
        if self.is_sqlite:
            self.engine: AsyncEngine = create_async_engine(url, pool_size=4, max_overflow=0)
            self._configure_sqlite()
            self._write_lock: asyncio.Lock | None = asyncio.Lock()
        else:
            self.engine = create_async_engine(
                url,
                pool_size=pool_size,
                max_overflow=max_overflow,
                pool_pre_ping=True,
                pool_timeout=5,
                connect_args={"timeout": 3, "command_timeout": 30},
            )
            self._write_lock = None
        event.listen(self.engine.sync_engine, "before_cursor_execute", self._count)

    def _count(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.statements.record(statement)

    def _configure_sqlite(self) -> None:
        sync_engine = self.engine.sync_engine

        @event.listens_for(sync_engine, "connect")
        def on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let us issue BEGIN ourselves (IMMEDIATE for writers) instead of pysqlite's implicit one.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            for pragma in _SQLITE_PRAGMAS:
                cursor.execute(pragma)
            cursor.close()

        @event.listens_for(sync_engine, "begin")
        def on_begin(conn: Any) -> None:
            mode = "IMMEDIATE" if conn.get_execution_options().get("roost_write") else "DEFERRED"
            conn.exec_driver_sql(f"BEGIN {mode}")

    def on_commit(self, listener: Callable[[], None]) -> None:
        """Call `listener` after every committed write transaction (wakes the outbox relay)."""
        self._commit_listeners.append(listener)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction: committed when the block ends, rolled back on error."""
        if self._write_lock is not None:
            async with self._write_lock, self._begin(write=True) as conn:
                yield conn
        else:
            async with self._begin(write=True) as conn:
                yield conn
        for listener in self._commit_listeners:
            listener()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only connection with one consistent snapshot for the block."""
        async with self._begin(write=False) as conn:
            yield conn

    @asynccontextmanager
    async def _begin(self, *, write: bool) -> AsyncIterator[AsyncConnection]:
        try:
            conn = await self.engine.connect()
        except (OperationalError, InterfaceError, OSError, DBAPIError) as exc:
            raise Unavailable("the database is unavailable") from exc
        try:
            if write:
                conn = await conn.execution_options(roost_write=True)
            async with conn.begin():
                yield conn
        except (InterfaceError, OSError) as exc:
            raise Unavailable("the database is unavailable") from exc
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise Unavailable("the database connection was lost") from exc
            raise
        finally:
            await conn.close()

    async def ping(self) -> bool:
        try:
            async with self.read() as conn:
                await conn.execute(text("SELECT 1"))
        except Unavailable:
            return False
        return True

    async def dispose(self) -> None:
        await self.engine.dispose()
