"""The database handle: an async SQLAlchemy engine, write transactions, and a statement counter.

SQLite (embedded profile) allows one writer at a time, so write transactions take an in-process
lock (`write_lock`) and start with BEGIN IMMEDIATE; readers never wait on writers thanks to WAL
mode. Every statement runs on the event loop's thread instead of aiosqlite's (see `inline_sqlite`).
PostgreSQL reads run in autocommit (READ COMMITTED gives each statement its own snapshot anyway).
Failures to connect surface as `Unavailable` (HTTP 503), never as a 500.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from sqlalchemy import event, make_url, text
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncTransaction, create_async_engine

from roost.adapters.sql import hot
from roost.adapters.sql.inline_sqlite import READ_BUSY_TIMEOUT_MS, InlineConnection, inline_creator
from roost.adapters.sql.write_lock import WriteLock
from roost.core.errors import Unavailable

_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA cache_size=-65536",
    "PRAGMA temp_store=MEMORY",
)
# How long a writer waits for SQLite's write lock (another process, e.g. a CLI command, holds it).
WRITE_BUSY_TIMEOUT_MS = 10_000


# A pooled PostgreSQL connection unused this long is checked (one round trip) before it is handed
# out: it may have died with a database restart or a network cut. Busy connections are not, unless
# a connection of the database was found lost since they were last used.
PING_AFTER_IDLE_SECONDS = 1.0


def _ping_when_idle(engine: AsyncEngine, losses: hot.ConnectionLosses) -> None:
    """Pessimistic disconnect handling for idle connections only (`pool_pre_ping` pings every
    checkout: three round trips per request with asyncpg), and for every connection pooled before a
    connection of either engine was found lost. A dead one is replaced by the pool."""
    pool_events = engine.sync_engine.pool

    @event.listens_for(pool_events, "checkin")
    def on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["roost_idle_since"] = time.monotonic()

    @event.listens_for(pool_events, "checkout")
    def on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("roost_idle_since")
        if idle_since is None:
            return  # new
        if time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS and idle_since > losses.last:
            return  # in use a moment ago, and no connection was lost since
        try:
            dbapi_connection.ping()
        except Exception as exc:  # whatever the driver raises, the pool retries with a new connection
            raise DisconnectionError("pooled connection is dead") from exc


@contextmanager
def _unavailable_when_lost(losses: hot.ConnectionLosses) -> Iterator[None]:
    """A lost connection (network, restart) is a 503, not a 500."""
    try:
        yield
    except (InterfaceError, OSError) as exc:
        losses.record(exc)
        raise Unavailable("the database is unavailable") from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            losses.record(exc)
            raise Unavailable("the database connection was lost") from exc
        raise


def _in_transaction(driver: InlineConnection) -> bool:
    """Whether the connection is in a transaction; False once it is closed (lost, or invalidated
    in the block), whose error the caller is already raising."""
    try:
        return driver.in_transaction
    except ValueError:  # aiosqlite: "no active connection"
        return False


def _is_busy(exc: OperationalError) -> bool:
    return isinstance(exc.orig, sqlite3.OperationalError) and "locked" in str(exc.orig)


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
    def __init__(
        self, url: str, *, pool_size: int = 20, max_overflow: int = 0, pool_timeout: float = 5.0
    ) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.statements = StatementCounter()
        self.losses = hot.ConnectionLosses()
        self._commit_listeners: list[Callable[[], None]] = []
        if self.is_sqlite:
            path = make_url(url).database or ""
            # Statements run inline (see `inline_sqlite`); an in-memory database (one per
            # connection) cannot be shared, so it keeps aiosqlite and one engine.
            self.inline = bool(path) and path != ":memory:"
            if self.inline:
                self.engine: AsyncEngine = create_async_engine(
                    url, async_creator=inline_creator(path), pool_size=4, max_overflow=0
                )
                self.reader = create_async_engine(
                    url, async_creator=inline_creator(path), pool_size=8, max_overflow=0
                )
                # A writer never sleeps in SQLite's busy handler (that would stall the event loop):
                # a busy BEGIN IMMEDIATE comes back at once and `_begin` retries it asynchronously.
                self._configure_sqlite(self.engine, busy_timeout_ms=0)
                self._configure_sqlite(self.reader, busy_timeout_ms=READ_BUSY_TIMEOUT_MS)
            else:
                self.engine = self.reader = create_async_engine(url, pool_size=4, max_overflow=0)
                self._configure_sqlite(self.engine, busy_timeout_ms=WRITE_BUSY_TIMEOUT_MS)
            self._write_lock: WriteLock | None = WriteLock()
        else:
            pool: dict[str, Any] = {
                "pool_size": pool_size,
                "max_overflow": max_overflow,
                "pool_timeout": pool_timeout,
                # The most recently returned connection first: under light load the same few
                # stay warm and the rest idle, instead of every one turning idle long enough to
                # need the check before use (see `_ping_when_idle`).
                "pool_use_lifo": True,
                "connect_args": {"timeout": 3, "command_timeout": 30},
            }
            self.engine = create_async_engine(url, **pool)
            # READ COMMITTED gives each statement its own snapshot anyway, so a read block in a
            # transaction would only add a BEGIN and a ROLLBACK round trip to every request.
            self.reader = create_async_engine(url, isolation_level="AUTOCOMMIT", **pool)
            for engine in (self.engine, self.reader):
                _ping_when_idle(engine, self.losses)
            self.inline = False
            self._write_lock = None
        for engine in {self.engine, self.reader}:
            event.listen(engine.sync_engine, "before_cursor_execute", self._count)
            event.listen(engine.sync_engine.pool, "connect", self._keep_counter)

    def _keep_counter(self, _dbapi_connection: Any, record: Any) -> None:
        # Hot statements run beside SQLAlchemy's events: they find the counter on their connection.
        record.info[hot.COUNTER_KEY] = self.statements
        record.info[hot.LOSSES_KEY] = self.losses

    def _count(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.statements.record(statement)

    @staticmethod
    def _configure_sqlite(engine: AsyncEngine, *, busy_timeout_ms: int) -> None:
        sync_engine = engine.sync_engine

        @event.listens_for(sync_engine, "connect")
        def on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let us issue BEGIN ourselves (IMMEDIATE for writers) instead of pysqlite's implicit one.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            for pragma in _SQLITE_PRAGMAS:
                cursor.execute(pragma)
            cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
            cursor.close()

        @event.listens_for(sync_engine, "begin")
        def on_begin(conn: Any) -> None:
            if conn.get_execution_options().get("roost_write"):
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                return
            driver = conn.connection.driver_connection
            if isinstance(driver, InlineConnection):  # skip SQLAlchemy's execution
                if not _in_transaction(driver):  # else inside `_inline_read`'s transaction
                    driver.run("BEGIN DEFERRED", ())
            else:
                conn.exec_driver_sql("BEGIN DEFERRED")

    def on_commit(self, listener: Callable[[], None]) -> None:
        """Call `listener` after every committed write transaction (wakes the outbox relay)."""
        self._commit_listeners.append(listener)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction: committed when the block ends, rolled back on error."""
        if self._write_lock is not None:
            async with self._write_lock.held(), self._begin(write=True) as conn:
                yield conn
        else:
            async with self._begin(write=True) as conn:
                yield conn
        self._committed()

    async def write_once(
        self,
        write: hot.HotWrite,
        params: Mapping[str, Any],
        *,
        prepare: Callable[[AsyncConnection], Awaitable[Mapping[str, Any]]] | None = None,
    ) -> list[Sequence[Any]]:
        """Run `write` as a transaction of its own, with `params` and what `prepare` (checks that
        may raise, lookups) returns. On PostgreSQL the write is one statement, sent in autocommit:
        one round trip, where BEGIN, the statement and COMMIT would be three; `prepare` reads just
        before it (at READ COMMITTED, reads inside the transaction would lock nothing either). On
        SQLite both run in one write transaction, so nothing commits between them. Returns what
        `write` returns (see `HotWrite`)."""
        if self.is_sqlite:
            async with self.transaction() as conn:
                extra = await prepare(conn) if prepare is not None else {}
                return await write.run(conn, {**params, **extra})
        extra = {}
        if prepare is not None:
            async with self.read() as conn:
                extra = await prepare(conn)
        async with self._begin(write=False) as conn:  # the reader engine: autocommit
            rows = await write.run(conn, {**params, **extra})
        self._committed()
        return rows

    def _committed(self) -> None:
        for listener in self._commit_listeners:
            listener()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads: on SQLite in a transaction, one consistent snapshot for the
        block; on PostgreSQL in autocommit, a snapshot per statement (as READ COMMITTED gives in a
        transaction too), without SQLAlchemy's begin and commit (about 40 us of CPU a page)."""
        if self.inline:
            async with self._inline_read() as conn:
                yield conn
            return
        if self.is_sqlite:
            async with self._begin(write=False) as conn:
                yield conn
            return
        conn = await self._connect(self.reader)
        try:
            with _unavailable_when_lost(self.losses):
                yield conn
        finally:
            await conn.close()

    @asynccontextmanager
    async def _inline_read(self) -> AsyncIterator[AsyncConnection]:
        """A read transaction begun and ended on the inline driver connection itself: SQLAlchemy's
        begin and commit around it took 0.1 ms of CPU a warm page (1.35 against 1.25 ms in
        process, session 9). A statement sent through SQLAlchemy in the block joins the
        transaction (see `on_begin`); SQLAlchemy's rollback of it at the close finds it ended.
        (The pool's reset of a returned connection would roll back a transaction left open too.)"""
        conn = await self._connect(self.reader)
        try:
            with _unavailable_when_lost(self.losses):
                driver = (await hot.raw_connection(conn)).driver_connection
                assert isinstance(driver, InlineConnection)
                driver.run("BEGIN DEFERRED", ())
                try:
                    yield conn
                except BaseException:
                    if _in_transaction(driver):
                        driver.run("ROLLBACK", ())
                    raise
                if _in_transaction(driver):
                    driver.run("COMMIT", ())
        finally:
            await conn.close()

    @asynccontextmanager
    async def _begin(self, *, write: bool) -> AsyncIterator[AsyncConnection]:
        conn, trans = await self._connect_and_begin(write=write)
        try:
            with _unavailable_when_lost(self.losses):
                try:
                    yield conn
                except BaseException:
                    if trans.is_active:
                        await trans.rollback()
                    raise
                await trans.commit()
        finally:
            await conn.close()

    async def _connect_and_begin(self, *, write: bool) -> tuple[AsyncConnection, AsyncTransaction]:
        """A connection in a transaction. A write on SQLite whose BEGIN IMMEDIATE finds the write
        lock taken (another process, or another Database on the same file) is retried here, without
        blocking the event loop, for up to WRITE_BUSY_TIMEOUT_MS."""
        waited, delay = 0.0, 0.001
        while True:
            conn = await self._connect(self.engine if write else self.reader)
            try:
                with _unavailable_when_lost(self.losses):
                    if write:
                        conn = await conn.execution_options(roost_write=True)
                    return conn, await conn.begin()
            except OperationalError as exc:
                await conn.close()
                if not (write and self.inline and _is_busy(exc)) or waited * 1000 >= WRITE_BUSY_TIMEOUT_MS:
                    raise
            except BaseException:
                await conn.close()
                raise
            await asyncio.sleep(delay)
            waited, delay = waited + delay, min(delay * 2, 0.05)

    @staticmethod
    async def _connect(engine: AsyncEngine) -> AsyncConnection:
        try:
            return await engine.connect()
        except (OperationalError, InterfaceError, OSError, DBAPIError) as exc:
            raise Unavailable("the database is unavailable") from exc
        except PoolTimeout as exc:  # every pooled connection busy for the pool's whole timeout
            raise Unavailable("the database is busy; try again") from exc

    async def ping(self) -> bool:
        try:
            async with self.read() as conn:
                await conn.execute(text("SELECT 1"))
        except Unavailable:
            return False
        return True

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.reader is not self.engine:
            await self.reader.dispose()
