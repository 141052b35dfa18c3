"""Marking notifications read."""

from __future__ import annotations

from sqlalchemy import update

from roost.adapters.sql.database import Database
from roost.adapters.sql.tables import notifications


async def mark_read(db: Database, *, user_id: int, up_to_id: int) -> int:
    """Mark the user's notifications with id <= up_to_id read; returns how many changed."""
    async with db.transaction() as conn:
        result = await conn.execute(
            update(notifications)
            .where(
                notifications.c.user_id == user_id,
                notifications.c.id <= up_to_id,
                notifications.c.read.is_(False),
            )
            .values(read=True)
        )
    return int(result.rowcount or 0)
