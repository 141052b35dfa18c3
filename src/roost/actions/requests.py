"""Follow requests to private accounts: the owner approves or rejects them; going public approves all."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.actions.graph import add_follow, lock_pair
from roost.adapters.sql.database import Database
from roost.adapters.sql.outbox import emit
from roost.adapters.sql.tables import follow_requests
from roost.core.errors import NotFound
from roost.core.ids import IdGenerator
from roost.core.settings import Settings

FOLLOW_REQUEST_REJECTED = "follow_request.rejected"


async def approve_request(
    db: Database, ids: IdGenerator, settings: Settings, *, owner_id: int, follower_id: int, now: datetime
) -> None:
    """Turn a pending request into a follow (its `follow.created` event does the fan-out); 404 if none."""
    async with db.transaction() as conn:
        await lock_pair(conn, owner_id, follower_id)
        if not await _take_request(conn, owner_id=owner_id, follower_id=follower_id):
            raise NotFound("no pending follow request from this user")
        await add_follow(conn, ids, settings, follower_id=follower_id, followee_id=owner_id, now=now)


async def reject_request(db: Database, ids: IdGenerator, *, owner_id: int, follower_id: int) -> None:
    """Drop a pending request; 404 if none."""
    async with db.transaction() as conn:
        if not await _take_request(conn, owner_id=owner_id, follower_id=follower_id):
            raise NotFound("no pending follow request from this user")
        await emit(
            conn,
            ids,
            FOLLOW_REQUEST_REJECTED,
            key=follower_id,
            payload={"followerId": follower_id, "followeeId": owner_id},
        )


async def approve_all_pending(
    conn: AsyncConnection, ids: IdGenerator, settings: Settings, *, owner_id: int, now: datetime
) -> int:
    """Approve every pending request in the caller's transaction (the account went public)."""
    rows = await conn.execute(
        delete(follow_requests)
        .where(follow_requests.c.followee_id == owner_id)
        .returning(follow_requests.c.follower_id)
    )
    followers = sorted(r.follower_id for r in rows)
    for follower_id in followers:
        await add_follow(conn, ids, settings, follower_id=follower_id, followee_id=owner_id, now=now)
    return len(followers)


async def _take_request(conn: AsyncConnection, *, owner_id: int, follower_id: int) -> bool:
    removed = await conn.execute(
        delete(follow_requests).where(
            follow_requests.c.follower_id == follower_id, follow_requests.c.followee_id == owner_id
        )
    )
    return bool(removed.rowcount)
