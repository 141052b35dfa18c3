"""The database handle: reads in autocommit on PostgreSQL, and dead pooled connections replaced."""

from __future__ import annotations

import pytest
from sqlalchemy import make_url, text
from tests.support import _pg_admin, scratch_pg_database

from roost.adapters.sql import database
from roost.adapters.sql.database import Database
from roost.core.errors import Unavailable
from roost.core.settings import Settings


async def _kill_connections_to(name: str) -> None:
    await _pg_admin(
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    )


async def test_an_idle_pooled_connection_killed_by_the_server_is_replaced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 0.0)
    async with scratch_pg_database() as url:
        db = Database(Settings(database_url=url).sqlalchemy_url)
        try:
            for _ in range(2):  # the reader's pool and the writer's
                async with db.read() as conn:
                    assert await conn.scalar(text("SELECT 1")) == 1
                async with db.transaction() as conn:
                    assert await conn.scalar(text("SELECT 1")) == 1
                await _kill_connections_to(make_url(url).database or "")
        finally:
            await db.dispose()


async def test_without_the_idle_check_the_dead_connection_fails_the_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The counterpart of the test above: what the check is there for."""
    monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 3600.0)
    async with scratch_pg_database() as url:
        db = Database(Settings(database_url=url).sqlalchemy_url)
        try:
            async with db.read() as conn:
                await conn.scalar(text("SELECT 1"))
            await _kill_connections_to(make_url(url).database or "")
            with pytest.raises(Unavailable):
                async with db.read() as conn:
                    await conn.scalar(text("SELECT 1"))
        finally:
            await db.dispose()


async def test_reads_on_postgresql_send_no_begin_or_rollback() -> None:
    async with scratch_pg_database() as url:
        db = Database(Settings(database_url=url).sqlalchemy_url)
        try:
            async with db.read() as conn:
                # now() is the start of the transaction: inside one it would not move.
                first = await conn.scalar(text("SELECT now()"))
                await conn.execute(text("SELECT pg_sleep(0.01)"))
                assert await conn.scalar(text("SELECT now()")) > first
            async with db.transaction() as conn:
                first = await conn.scalar(text("SELECT now()"))
                await conn.execute(text("SELECT pg_sleep(0.01)"))
                assert await conn.scalar(text("SELECT now()")) == first
        finally:
            await db.dispose()
