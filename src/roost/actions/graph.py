"""Follow, unfollow, block and mute: the social graph, its exact counts and its events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.actions.tiers import retier
from roost.adapters.sql.database import Database
from roost.adapters.sql.dialect import insert_ignoring_duplicates
from roost.adapters.sql.outbox import emit
from roost.adapters.sql.tables import blocks, follow_requests, follows, mutes, users
from roost.core.errors import Forbidden, InvalidRequest, NotFound
from roost.core.ids import IdGenerator
from roost.core.settings import Settings
from roost.queries.posts import blocked_either_way

FOLLOW_CREATED = "follow.created"
FOLLOW_REMOVED = "follow.removed"
FOLLOW_REQUESTED = "follow.requested"
BLOCK_CREATED = "block.created"


@dataclass(frozen=True, slots=True)
class FollowOutcome:
    following: bool
    requested: bool


async def follow(
    db: Database, ids: IdGenerator, settings: Settings, *, follower_id: int, followee_id: int, now: datetime
) -> FollowOutcome:
    """Follow an account (idempotent); a private account gets a follow request instead."""
    if follower_id == followee_id:
        raise InvalidRequest("you cannot follow yourself")
    async with db.transaction() as conn:
        await lock_pair(conn, follower_id, followee_id)
        target = (await conn.execute(select(users.c.is_private).where(users.c.id == followee_id))).first()
        if target is None:
            raise NotFound("user not found")
        if await blocked_either_way(conn, follower_id, followee_id):
            raise Forbidden("you cannot follow this account")
        already = await conn.scalar(
            select(follows.c.id).where(
                follows.c.follower_id == follower_id, follows.c.followee_id == followee_id
            )
        )
        if already is not None:
            return FollowOutcome(following=True, requested=False)
        if target.is_private:
            inserted = await conn.execute(
                insert_ignoring_duplicates(conn, follow_requests).values(
                    follower_id=follower_id, followee_id=followee_id, id=ids.next_id(), created_at=now
                )
            )
            if inserted.rowcount:
                await emit(
                    conn,
                    ids,
                    FOLLOW_REQUESTED,
                    key=follower_id,
                    payload={"followerId": follower_id, "followeeId": followee_id},
                )
            return FollowOutcome(following=False, requested=True)
        await add_follow(conn, ids, settings, follower_id=follower_id, followee_id=followee_id, now=now)
    return FollowOutcome(following=True, requested=False)


async def add_follow(
    conn: AsyncConnection,
    ids: IdGenerator,
    settings: Settings,
    *,
    follower_id: int,
    followee_id: int,
    now: datetime,
) -> bool:
    """Insert the edge with its counts, tier and event in the caller's transaction; False if present."""
    inserted = await conn.execute(
        insert_ignoring_duplicates(conn, follows).values(
            follower_id=follower_id, followee_id=followee_id, id=ids.next_id(), created_at=now
        )
    )
    if not inserted.rowcount:
        return False
    await _count_follow(conn, ids, follower_id, followee_id, +1)
    await retier(conn, ids, settings, followee_id)
    await emit(
        conn,
        ids,
        FOLLOW_CREATED,
        key=follower_id,
        payload={"followerId": follower_id, "followeeId": followee_id},
    )
    return True


async def unfollow(
    db: Database, ids: IdGenerator, settings: Settings, *, follower_id: int, followee_id: int
) -> None:
    """Stop following (idempotent); also withdraws a pending follow request."""
    if follower_id == followee_id:
        raise InvalidRequest("you cannot unfollow yourself")
    async with db.transaction() as conn:
        if await conn.scalar(select(users.c.id).where(users.c.id == followee_id)) is None:
            raise NotFound("user not found")
        await conn.execute(
            delete(follow_requests).where(
                follow_requests.c.follower_id == follower_id, follow_requests.c.followee_id == followee_id
            )
        )
        await remove_follow(conn, ids, settings, follower_id=follower_id, followee_id=followee_id)


async def remove_follow(
    conn: AsyncConnection, ids: IdGenerator, settings: Settings, *, follower_id: int, followee_id: int
) -> bool:
    removed = await conn.execute(
        delete(follows).where(follows.c.follower_id == follower_id, follows.c.followee_id == followee_id)
    )
    if not removed.rowcount:
        return False
    await _count_follow(conn, ids, follower_id, followee_id, -1)
    await retier(conn, ids, settings, followee_id)
    await emit(
        conn,
        ids,
        FOLLOW_REMOVED,
        key=follower_id,
        payload={"followerId": follower_id, "followeeId": followee_id},
    )
    return True


async def block(
    db: Database, ids: IdGenerator, settings: Settings, *, blocker_id: int, blocked_id: int, now: datetime
) -> None:
    """Block (idempotent): follows and follow requests both ways go, new ones are refused."""
    if blocker_id == blocked_id:
        raise InvalidRequest("you cannot block yourself")
    async with db.transaction() as conn:
        await _require_user(conn, blocked_id)
        await lock_pair(conn, blocker_id, blocked_id)
        inserted = await conn.execute(
            insert_ignoring_duplicates(conn, blocks).values(
                blocker_id=blocker_id, blocked_id=blocked_id, created_at=now
            )
        )
        await remove_follow(conn, ids, settings, follower_id=blocker_id, followee_id=blocked_id)
        await remove_follow(conn, ids, settings, follower_id=blocked_id, followee_id=blocker_id)
        if inserted.rowcount:
            await touch_graphs(conn, ids, blocker_id, blocked_id)
        await conn.execute(
            delete(follow_requests).where(
                or_(
                    (follow_requests.c.follower_id == blocker_id)
                    & (follow_requests.c.followee_id == blocked_id),
                    (follow_requests.c.follower_id == blocked_id)
                    & (follow_requests.c.followee_id == blocker_id),
                )
            )
        )
        if inserted.rowcount:
            await emit(
                conn,
                ids,
                BLOCK_CREATED,
                key=blocker_id,
                payload={"blockerId": blocker_id, "blockedId": blocked_id},
            )


async def unblock(db: Database, ids: IdGenerator, *, blocker_id: int, blocked_id: int) -> None:
    async with db.transaction() as conn:
        await _require_user(conn, blocked_id)
        removed = await conn.execute(
            delete(blocks).where(blocks.c.blocker_id == blocker_id, blocks.c.blocked_id == blocked_id)
        )
        if removed.rowcount:
            await touch_graphs(conn, ids, blocker_id, blocked_id)


async def mute(db: Database, ids: IdGenerator, *, muter_id: int, muted_id: int, now: datetime) -> None:
    """Hide an account's posts from the muter's feed at once (filtered at read time)."""
    if muter_id == muted_id:
        raise InvalidRequest("you cannot mute yourself")
    async with db.transaction() as conn:
        await _require_user(conn, muted_id)
        inserted = await conn.execute(
            insert_ignoring_duplicates(conn, mutes).values(
                muter_id=muter_id, muted_id=muted_id, created_at=now
            )
        )
        if inserted.rowcount:
            await touch_graphs(conn, ids, muter_id)


async def unmute(db: Database, ids: IdGenerator, *, muter_id: int, muted_id: int) -> None:
    async with db.transaction() as conn:
        await _require_user(conn, muted_id)
        removed = await conn.execute(
            delete(mutes).where(mutes.c.muter_id == muter_id, mutes.c.muted_id == muted_id)
        )
        if removed.rowcount:
            await touch_graphs(conn, ids, muter_id)


async def touch_graphs(conn: AsyncConnection, ids: IdGenerator, *user_ids: int) -> None:
    """New graph versions for these accounts: their cached viewer graphs are read again."""
    await conn.execute(update(users).where(users.c.id.in_(user_ids)).values(graph_version=ids.next_id()))


async def lock_pair(conn: AsyncConnection, a: int, b: int) -> None:
    """Row-lock both accounts (in id order, so no deadlock): a follow and a block of the same pair
    serialize, and a block can never leave a follow behind (PostgreSQL; SQLite writes are serial)."""
    await conn.execute(
        select(users.c.id).where(users.c.id.in_(sorted({a, b}))).order_by(users.c.id).with_for_update()
    )


async def _require_user(conn: AsyncConnection, user_id: int) -> None:
    if await conn.scalar(select(users.c.id).where(users.c.id == user_id)) is None:
        raise NotFound("user not found")


async def _count_follow(
    conn: AsyncConnection, ids: IdGenerator, follower_id: int, followee_id: int, delta: int
) -> None:
    """The counts of both accounts; the follower's sources changed, so does its graph version."""
    await conn.execute(
        update(users)
        .where(users.c.id == follower_id)
        .values(following_count=users.c.following_count + delta, graph_version=ids.next_id())
    )
    await conn.execute(
        update(users).where(users.c.id == followee_id).values(follower_count=users.c.follower_count + delta)
    )
