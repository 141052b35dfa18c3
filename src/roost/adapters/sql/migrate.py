"""Schema migrations from code: upgrade a database to head, and tell where it stands against head."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from roost.adapters.sql.database import Database

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Databases made by `create_all` (before migrations existed) carry no version: the newest revision
# whose marker (a table, or a table's column) they have is the one they are adopted at, newest first.
_ADOPTION_MARKERS: tuple[tuple[str, str, str | None], ...] = (
    ("0004", "notifications", "actor_marks"),
    ("0003", "roost_state", None),
    ("0002", "counter_flushes", None),
    ("0001", "users", None),
)
# Serializes concurrent `roost migrate` runs on PostgreSQL (any constant both sides agree on).
_ADVISORY_LOCK = 0x726F6F7374


def alembic_config(url: str | None = None) -> Config:
    """An Alembic configuration built in code: no alembic.ini needed next to the installed package."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        # ConfigParser interpolates %, and URL-encoded passwords contain it.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    current: str | None
    head: str | None

    @property
    def is_current(self) -> bool:
        return self.current == self.head

    def describe(self) -> str:
        if self.current is None:
            return f"the database is not migrated (head is {self.head})"
        if self.is_current:
            return f"the database is at head ({self.head})"
        return f"the database is at {self.current}, head is {self.head}"


async def schema_status(db: Database) -> SchemaStatus:
    """The database's revision against the newest migration; raises Unavailable if unreachable."""
    async with db.read() as conn:
        current = await conn.run_sync(_current_revision)
    return SchemaStatus(current=current, head=head_revision())


async def upgrade(db: Database) -> SchemaStatus:
    """Apply every pending migration in one transaction, and return the resulting status."""
    async with db.transaction() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK})
        await conn.run_sync(_upgrade)
    return await schema_status(db)


def _current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _upgrade(conn: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = conn
    if _current_revision(conn) is None:
        adopted = _adoptable_revision(conn)
        if adopted is not None:
            command.stamp(config, adopted)
    command.upgrade(config, "head")


def _adoptable_revision(conn: Connection) -> str | None:
    """For a database made by `create_all` (no Alembic version): the newest revision whose tables it has."""
    inspector = inspect(conn)
    for revision, table, column in _ADOPTION_MARKERS:
        if not inspector.has_table(table):
            continue
        if column is None or column in {c["name"] for c in inspector.get_columns(table)}:
            return revision
    return None


class SchemaNotCurrent(RuntimeError):
    """The database is unmigrated or behind the code: `roost migrate` must run first."""


async def require_current(db: Database) -> SchemaStatus:
    """The status if the database is at head; raises SchemaNotCurrent with a one-line reason if not."""
    status = await schema_status(db)
    if not status.is_current:
        raise SchemaNotCurrent(f"{status.describe()}; run `roost migrate`")
    return status
