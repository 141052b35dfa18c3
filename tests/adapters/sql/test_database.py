"""The database handle: reads in autocommit on PostgreSQL, dead pooled connections replaced, and
SQLite writers that wait for each other without stalling the event loop."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import event, literal, make_url, select, text
from sqlalchemy.exc import OperationalError
from tests.support import _pg_admin, scratch_pg_database

from roost.adapters.sql import database
from roost.adapters.sql.database import Database
from roost.adapters.sql.hot import HotQuery
from roost.adapters.sql.inline_sqlite import InlineConnection
from roost.core.errors import Unavailable
from roost.core.settings import Settings


@pytest.fixture
async def pg() -> AsyncIterator[Database]:
    """A handle on a scratch PostgreSQL database of its own."""
    async with scratch_pg_database() as url:
        db = Database(Settings(database_url=url).sqlalchemy_url)
        try:
            yield db
        finally:
            await db.dispose()


async def _kill_connections(db: Database) -> None:
    """What a database restart does to every pooled connection."""
    name = make_url(db.url).database
    await _pg_admin(
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    )


async def test_an_idle_pooled_connection_killed_by_the_server_is_replaced(
    pg: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 0.0)
    for _ in range(2):  # the reader's pool and the writer's
        async with pg.read() as conn:
            assert await conn.scalar(text("SELECT 1")) == 1
        async with pg.transaction() as conn:
            assert await conn.scalar(text("SELECT 1")) == 1
        await _kill_connections(pg)


async def test_without_the_idle_check_the_dead_connection_fails_the_request(
    pg: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The counterpart of the test above: what the check is there for."""
    monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 3600.0)
    async with pg.read() as conn:
        await conn.scalar(text("SELECT 1"))
    await _kill_connections(pg)
    with pytest.raises(Unavailable):
        async with pg.read() as conn:
            await conn.scalar(text("SELECT 1"))


async def test_after_a_lost_connection_the_other_pools_connections_are_checked_too(
    pg: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restart kills every pooled connection; the first request to find out costs a 503, and
    no later one does, also in the other engine's pool (a post after a read, say)."""
    monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 3600.0)  # all in use a moment ago
    async with pg.transaction() as conn:
        await conn.scalar(text("SELECT 1"))
    async with pg.read() as conn:
        await conn.scalar(text("SELECT 1"))
    await _kill_connections(pg)
    with pytest.raises(Unavailable):
        async with pg.read() as conn:
            await conn.scalar(text("SELECT 1"))
    async with pg.transaction() as conn:
        assert await conn.scalar(text("SELECT 1")) == 1
    async with pg.read() as conn:
        assert await conn.scalar(text("SELECT 1")) == 1


async def test_a_connection_lost_under_a_hot_statement_gets_the_others_checked(
    pg: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hot statements (posts are written by one) run beside SQLAlchemy: their losses count too."""
    monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 3600.0)
    one = HotQuery(lambda _: select(literal(1)))
    async with pg.transaction() as conn:
        await conn.scalar(text("SELECT 1"))
    async with pg.read() as conn:
        assert await one.fetch(conn, {}) == [(1,)]
    await _kill_connections(pg)
    with pytest.raises(Unavailable):
        async with pg.read() as conn:
            await one.fetch(conn, {})
    async with pg.transaction() as conn:
        assert await conn.scalar(text("SELECT 1")) == 1


async def test_a_hot_statement_runs_after_its_connection_was_invalidated(pg: Database) -> None:
    """Hot statements take the pooled connection without a greenlet while it is valid; one that
    SQLAlchemy must reconnect first goes through it."""
    one = HotQuery(lambda _: select(literal(1)))
    async with pg.read() as conn:
        assert await one.fetch(conn, {}) == [(1,)]
        await conn.invalidate()
        assert await one.fetch(conn, {}) == [(1,)]


async def test_a_pool_keeps_what_bursts_of_reads_opened(pg: Database) -> None:
    """Connections opened for concurrent requests stay pooled: a connection closed after each
    burst costs PostgreSQL a new backend and the process its prepared statements next time."""
    opened: list[object] = []
    event.listen(pg.reader.sync_engine.pool, "connect", lambda *_: opened.append(1))

    async def read() -> None:
        async with pg.read() as conn:
            await conn.scalar(text("SELECT 1"))
            await asyncio.sleep(0.02)

    for burst in range(3):
        await asyncio.gather(*(read() for _ in range(15)))
        if burst == 0:
            first = len(opened)
    assert 0 < first <= 15
    assert len(opened) == first


async def test_a_request_that_finds_no_free_connection_is_unavailable_not_an_error() -> None:
    async with scratch_pg_database() as url:
        db = Database(Settings(database_url=url).sqlalchemy_url, pool_size=1, pool_timeout=0.2)
        try:
            async with db.read() as held:
                await held.scalar(text("SELECT 1"))
                with pytest.raises(Unavailable, match="busy"):
                    async with db.read():
                        pass
        finally:
            await db.dispose()


async def test_reads_on_postgresql_send_no_begin_or_rollback(pg: Database) -> None:
    async with pg.read() as conn:
        # now() is the start of the transaction: inside one it would not move.
        first = await conn.scalar(text("SELECT now()"))
        await conn.execute(text("SELECT pg_sleep(0.01)"))
        assert await conn.scalar(text("SELECT now()")) > first
    async with pg.transaction() as conn:
        first = await conn.scalar(text("SELECT now()"))
        await conn.execute(text("SELECT pg_sleep(0.01)"))
        assert await conn.scalar(text("SELECT now()")) == first


async def _sqlite(path: Path) -> Database:
    db = Database(Settings(database_url=f"sqlite:///{path}").sqlalchemy_url)
    async with db.transaction() as conn:
        await conn.execute(text("CREATE TABLE IF NOT EXISTS t (n INTEGER)"))
    return db


async def test_a_sqlite_writer_waits_for_another_without_stalling_the_event_loop(tmp_path: Path) -> None:
    """Two handles on one file (two processes, say): the second writer's BEGIN finds the lock
    taken and retries asynchronously, so the first can finish and other tasks keep running."""
    first, second = await _sqlite(tmp_path / "db.sqlite"), await _sqlite(tmp_path / "db.sqlite")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    async def hold_the_lock() -> None:
        async with first.transaction() as conn:
            await conn.execute(text("INSERT INTO t VALUES (1)"))
            await asyncio.sleep(0.2)  # the write lock is held while this task waits

    ticking = asyncio.create_task(ticker())
    try:
        holder = asyncio.create_task(hold_the_lock())
        await asyncio.sleep(0.02)
        ticks_before = ticks
        async with second.transaction() as conn:
            await conn.execute(text("INSERT INTO t VALUES (2)"))
        await holder
        assert ticks - ticks_before >= 10  # the loop kept running while the second writer waited
        async with second.read() as conn:
            assert sorted((await conn.execute(text("SELECT n FROM t"))).scalars()) == [1, 2]
    finally:
        ticking.cancel()
        await first.dispose()
        await second.dispose()


async def test_a_sqlite_writer_gives_up_after_the_busy_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "WRITE_BUSY_TIMEOUT_MS", 50)
    first, second = await _sqlite(tmp_path / "db.sqlite"), await _sqlite(tmp_path / "db.sqlite")
    try:
        async with first.transaction() as conn:
            await conn.execute(text("INSERT INTO t VALUES (1)"))
            with pytest.raises(OperationalError, match="locked"):
                async with second.transaction() as other:
                    await other.execute(text("INSERT INTO t VALUES (2)"))
        async with second.read() as conn:
            assert list((await conn.execute(text("SELECT n FROM t"))).scalars()) == [1]
    finally:
        await first.dispose()
        await second.dispose()


_COUNT = HotQuery(lambda _: text("SELECT count(*) FROM t"))


async def test_a_sqlite_read_block_is_one_snapshot_and_ends_with_the_block(tmp_path: Path) -> None:
    """Statements of a read block, hot ones and SQLAlchemy's alike, see the database as it was at
    the block's first read; the next block sees what committed meanwhile (a transaction left open
    would pin the pooled connection to that old snapshot)."""
    db = await _sqlite(tmp_path / "db.sqlite")
    try:
        for _ in range(3):  # the same pooled connection, block after block
            async with db.read() as conn:
                before = (await _COUNT.fetch(conn, {}))[0][0]
                async with db.transaction() as writer:
                    await writer.execute(text("INSERT INTO t VALUES (1)"))
                assert (await _COUNT.fetch(conn, {}))[0][0] == before
                assert await conn.scalar(text("SELECT count(*) FROM t")) == before
            async with db.read() as conn:
                assert await conn.scalar(text("SELECT count(*) FROM t")) == before + 1
                assert (await _COUNT.fetch(conn, {}))[0][0] == before + 1
    finally:
        await db.dispose()


async def _failing_read(db: Database, statement: str) -> None:
    async with db.read() as conn:
        await conn.execute(text(statement))
        raise RuntimeError("the request failed after its reads")


async def test_a_sqlite_read_block_that_fails_leaves_no_transaction_behind(tmp_path: Path) -> None:
    db = await _sqlite(tmp_path / "db.sqlite")
    try:
        for failing in ("SELECT nothing FROM t", "SELECT count(*) FROM t"):
            with pytest.raises((OperationalError, RuntimeError)):
                await _failing_read(db, failing)
            async with db.transaction() as writer:
                await writer.execute(text("INSERT INTO t VALUES (1)"))
        async with db.read() as conn:
            assert await conn.scalar(text("SELECT count(*) FROM t")) == 2
        # No pooled connection holds a read transaction: a checkpoint is not kept from any page.
        with closing(sqlite3.connect(tmp_path / "db.sqlite")) as other:
            busy, _, _ = other.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy == 0
    finally:
        await db.dispose()


async def _read_losing_the_connection(db: Database) -> None:
    async with db.read() as conn:
        await conn.scalar(text("SELECT 1"))
        driver = (await conn.get_raw_connection()).driver_connection
        assert isinstance(driver, InlineConnection)
        assert driver._connection is not None
        driver._connection.close()  # the sqlite3 connection dies under the block
        await conn.scalar(text("SELECT 1"))


async def test_a_sqlite_connection_lost_in_a_read_block_is_unavailable(tmp_path: Path) -> None:
    """A 503 for the request, as on PostgreSQL, not the closed driver's own error (a 500)."""
    db = await _sqlite(tmp_path / "db.sqlite")
    try:
        with pytest.raises(Unavailable):
            await _read_losing_the_connection(db)
        async with db.read() as conn:  # the pool replaced it
            assert await conn.scalar(text("SELECT count(*) FROM t")) == 0
    finally:
        await db.dispose()


async def test_a_write_in_a_sqlite_read_block_is_kept_as_on_postgresql(tmp_path: Path) -> None:
    # Reads on PostgreSQL run in autocommit: a statement that writes there is kept. The SQLite read
    # block ends its transaction with a commit, so the two profiles agree.
    db = await _sqlite(tmp_path / "db.sqlite")
    try:
        async with db.read() as conn:
            await _COUNT.fetch(conn, {})
            driver = (await conn.get_raw_connection()).driver_connection
            assert isinstance(driver, InlineConnection)
            driver.run("INSERT INTO t VALUES (1)", ())
        async with db.read() as conn:
            assert await conn.scalar(text("SELECT count(*) FROM t")) == 1
    finally:
        await db.dispose()
