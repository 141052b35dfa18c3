"""Statements whose spelling differs between SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


def insert_ignoring_duplicates(conn: AsyncConnection, table: Table) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING for the connection's dialect."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


def upsert(conn: AsyncConnection, table: Table, values: dict[str, Any], *, key: str) -> Any:
    """INSERT ... ON CONFLICT (key) DO UPDATE SET the other values, for the connection's dialect."""
    insert = postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)
    statement = insert.values(values)
    changes = {name: statement.excluded[name] for name in values if name != key}
    return statement.on_conflict_do_update(index_elements=[key], set_=changes)
