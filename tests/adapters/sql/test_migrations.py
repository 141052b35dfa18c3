"""Alembic migrations build exactly the schema of tables.py, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from tests.support import scratch_pg_database

from roost.adapters.sql import migrate
from roost.adapters.sql.database import Database
from roost.adapters.sql.tables import metadata, notifications, users
from roost.core.settings import Settings


@pytest.fixture(params=["sqlite", "postgresql"])
async def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A database with no tables at all."""
    if request.param == "sqlite":
        db = Database(Settings(database_url=f"sqlite:///{tmp_path / 'm.db'}").sqlalchemy_url)
        yield db
        await db.dispose()
        return
    async with scratch_pg_database() as url:
        db = Database(Settings(database_url=url).sqlalchemy_url)
        yield db
        await db.dispose()


def _bare(default: str) -> str:
    return default.strip("()").strip("'\"")


def _same_default(
    _context: Any, _inspected: Any, _column: Any, inspected: str | None, _default: Any, rendered: str | None
) -> bool | None:
    """Alembic's SQLite comparison sees `('')` and `''` as different; they are the same default."""
    if inspected is not None and rendered is not None and _bare(inspected) == _bare(rendered):
        return False
    return None  # let Alembic decide


def _diffs(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(
        conn, opts={"compare_type": True, "compare_server_default": _same_default}
    )
    return list(compare_metadata(context, metadata))


async def test_upgrade_builds_the_schema_of_tables_py(empty_db: Database) -> None:
    await migrate.upgrade(empty_db)
    async with empty_db.read() as conn:
        diffs = await conn.run_sync(_diffs)
    assert diffs == []


async def test_status_tells_unmigrated_from_current(empty_db: Database) -> None:
    before = await migrate.schema_status(empty_db)
    assert before.current is None
    assert not before.is_current
    assert "not migrated" in before.describe()
    after = await migrate.upgrade(empty_db)
    assert after.is_current
    assert after.current == migrate.head_revision() is not None


async def test_upgrade_twice_is_harmless(empty_db: Database) -> None:
    await migrate.upgrade(empty_db)
    status = await migrate.upgrade(empty_db)
    assert status.is_current


async def test_outdated_database_is_reported(empty_db: Database) -> None:
    await migrate.upgrade(empty_db)
    async with empty_db.transaction() as conn:
        await conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'older'")
    status = await migrate.schema_status(empty_db)
    assert not status.is_current
    assert status.describe() == f"the database is at older, head is {migrate.head_revision()}"


async def test_database_made_before_migrations_is_adopted(empty_db: Database) -> None:
    async with empty_db.transaction() as conn:
        await conn.run_sync(metadata.create_all)
    status = await migrate.upgrade(empty_db)
    assert status.is_current
    async with empty_db.read() as conn:
        tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert {t.name for t in metadata.sorted_tables} <= tables


async def test_0004_keeps_notifications_and_keys_them_per_recipient(empty_db: Database) -> None:
    """Rows written before 0004 survive it (without actor marks); afterwards the key is (user_id, id):
    two users may hold a notification with the same id, one user not."""

    def upgrade_to(revision: str) -> Callable[[Connection], None]:
        def run(conn: Connection) -> None:
            config = migrate.alembic_config()
            config.attributes["connection"] = conn
            command.upgrade(config, revision)

        return run

    now = datetime.now(UTC)
    user = {"password_hash": "x", "last_active_at": now, "created_at": now}
    note = {"type": "like", "post_id": 9, "group_key": "like:9", "actor_count": 2, "created_at": now}
    async with empty_db.transaction() as conn:
        await conn.run_sync(upgrade_to("0003"))
        for user_id, name in ((1, "alice"), (2, "bob")):
            await conn.execute(users.insert().values(id=user_id, username=name, username_key=name, **user))
        await conn.execute(
            text(
                "INSERT INTO notifications (id, user_id, type, post_id, group_key, actor_ids, actor_count,"
                " read, created_at) VALUES (77, 1, 'like', 9, 'like:9', '[2, 3]', 2, false, :at)"
            ),
            {"at": now},
        )
    await migrate.upgrade(empty_db)
    async with empty_db.transaction() as conn:
        kept = (await conn.execute(select(notifications))).one()
        assert (kept.id, kept.user_id, kept.actor_ids, kept.actor_marks) == (77, 1, [2, 3], None)
        await conn.execute(notifications.insert().values(id=77, user_id=2, actor_ids=[1], **note))
        key = await conn.run_sync(lambda c: inspect(c).get_pk_constraint("notifications"))
    assert key["constrained_columns"] == ["user_id", "id"]
    with pytest.raises(IntegrityError):
        async with empty_db.transaction() as conn:
            await conn.execute(notifications.insert().values(id=77, user_id=2, actor_ids=[3], **note))
