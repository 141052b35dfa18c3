"""The fan-out tier of an author: pushed to followers, or pulled by them at read time (celebrity)."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.adapters.sql.dialect import upsert
from roost.adapters.sql.tables import TIER_EPOCH, roost_state, users
from roost.core.ids import IdGenerator
from roost.core.settings import Settings


async def retier(conn: AsyncConnection, ids: IdGenerator, settings: Settings, user_id: int) -> None:
    """Promote at the threshold, demote only below threshold * (1 - hysteresis), so tiers don't flap.

    Promotion needs no bookkeeping: readers pull a celebrity's posts whatever was pushed before.
    Demotion records `push_from_id`: older posts were never pushed, so readers whose timeline
    reaches below it keep pulling this author until their window has moved past it.
    """
    row = (
        await conn.execute(select(users.c.follower_count, users.c.is_celebrity).where(users.c.id == user_id))
    ).first()
    if row is None:
        return
    if not row.is_celebrity and row.follower_count >= settings.celebrity_threshold:
        await conn.execute(update(users).where(users.c.id == user_id).values(is_celebrity=True))
        await touch_tiers(conn, ids)
    elif row.is_celebrity and row.follower_count < settings.demotion_threshold:
        await conn.execute(
            update(users).where(users.c.id == user_id).values(is_celebrity=False, push_from_id=ids.next_id())
        )
        await touch_tiers(conn, ids)


async def touch_tiers(conn: AsyncConnection, ids: IdGenerator) -> None:
    """A new tier epoch: every cached viewer graph (each holds its sources' tiers) is read again."""
    await conn.execute(upsert(conn, roost_state, {"key": TIER_EPOCH, "value": ids.next_id()}, key="key"))
