"""Likes, reposts and bookmarks: one row per (user, post), exact counters, events for notifications."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.actions.posts import POST_CREATED, POST_DELETED
from roost.adapters.sql.database import Database
from roost.adapters.sql.dialect import insert_ignoring_duplicates
from roost.adapters.sql.outbox import emit
from roost.adapters.sql.tables import blocks, bookmarks, follows, likes, posts, users
from roost.core.errors import NotFound, Unavailable
from roost.core.ids import IdGenerator
from roost.ports import Counters, PostCache

LIKE_CREATED = "like.created"
LIKE_REMOVED = "like.removed"

_COLUMNS: dict[str, Column[int]] = {"like": posts.c.like_count, "repost": posts.c.repost_count}


async def like_post(
    db: Database,
    ids: IdGenerator,
    *,
    user_id: int,
    post_id: int,
    now: datetime,
    counters: Counters | None = None,
) -> int:
    """Like a post the user can see (idempotent); returns the exact like count."""
    async with db.transaction() as conn:
        target = await _visible_post(conn, user_id, post_id)
        inserted = await conn.execute(
            insert_ignoring_duplicates(conn, likes).values(user_id=user_id, post_id=post_id, created_at=now)
        )
        changed = bool(inserted.rowcount)
        if changed:
            await _count(conn, counters, post_id, "like", +1)
            await emit(
                conn,
                ids,
                LIKE_CREATED,
                key=user_id,
                payload={"userId": user_id, "postId": post_id, "authorId": target.author_id},
            )
        stored = await _stored(conn, post_id, "like")
    return await _live(db, counters, post_id, "like", stored, +1 if changed else 0)


async def unlike_post(
    db: Database,
    ids: IdGenerator,
    *,
    user_id: int,
    post_id: int,
    counters: Counters | None = None,
) -> int:
    """Take a like back (idempotent); returns the exact like count."""
    async with db.transaction() as conn:
        target = await _existing_post(conn, post_id)
        removed = await conn.execute(
            delete(likes).where(likes.c.user_id == user_id, likes.c.post_id == post_id)
        )
        changed = bool(removed.rowcount)
        if changed:
            await _count(conn, counters, post_id, "like", -1)
            await emit(
                conn,
                ids,
                LIKE_REMOVED,
                key=user_id,
                payload={"userId": user_id, "postId": post_id, "authorId": target.author_id},
            )
        stored = await _stored(conn, post_id, "like")
    return await _live(db, counters, post_id, "like", stored, -1 if changed else 0)


async def repost(
    db: Database,
    ids: IdGenerator,
    *,
    user_id: int,
    post_id: int,
    now: datetime,
    counters: Counters | None = None,
) -> int:
    """Repost (idempotent): a post row of the reposter pointing at the original; returns repostCount.

    The row's `post.created` event makes fan-out push or pull it like any post of the reposter.
    """
    async with db.transaction() as conn:
        await _visible_post(conn, user_id, post_id)
        # Serializes one user's reposts (PostgreSQL), so a double click cannot make two rows.
        await conn.execute(select(users.c.id).where(users.c.id == user_id).with_for_update())
        changed = await _live_repost(conn, user_id, post_id) is None
        if changed:
            repost_id = ids.next_id()
            await conn.execute(
                posts.insert().values(
                    id=repost_id,
                    author_id=user_id,
                    content="",
                    hashtags=[],
                    mentions=[],
                    media=[],
                    repost_of_id=post_id,
                    created_at=now,
                )
            )
            await _count(conn, counters, post_id, "repost", +1)
            await emit(
                conn,
                ids,
                POST_CREATED,
                key=user_id,
                payload={"postId": repost_id, "authorId": user_id, "repostOfId": post_id},
            )
        stored = await _stored(conn, post_id, "repost")
    return await _live(db, counters, post_id, "repost", stored, +1 if changed else 0)


async def unrepost(
    db: Database,
    ids: IdGenerator,
    *,
    user_id: int,
    post_id: int,
    now: datetime,
    counters: Counters | None = None,
    cache: PostCache | None = None,
) -> int:
    """Undo a repost (idempotent): soft-deletes the repost row, which leaves every feed; returns repostCount."""
    async with db.transaction() as conn:
        await _existing_post(conn, post_id, allow_deleted=True)
        await conn.execute(select(users.c.id).where(users.c.id == user_id).with_for_update())
        repost_id = await _live_repost(conn, user_id, post_id)
        if repost_id is not None:
            await conn.execute(update(posts).where(posts.c.id == repost_id).values(deleted_at=now))
            await _count(conn, counters, post_id, "repost", -1)
            await emit(
                conn,
                ids,
                POST_DELETED,
                key=user_id,
                payload={"postId": repost_id, "authorId": user_id, "repostOfId": post_id},
            )
        stored = await _stored(conn, post_id, "repost")
    if cache is not None and repost_id is not None:
        # Hydration checks liveness in the database anyway; this only frees the entry.
        await cache.forget_posts([repost_id])
    return await _live(db, counters, post_id, "repost", stored, -1 if repost_id is not None else 0)


async def bookmark(db: Database, ids: IdGenerator, *, user_id: int, post_id: int, now: datetime) -> None:
    """Bookmark a post the user can see (idempotent); bookmarks are private, so no event."""
    async with db.transaction() as conn:
        await _visible_post(conn, user_id, post_id)
        await conn.execute(
            insert_ignoring_duplicates(conn, bookmarks).values(
                user_id=user_id, post_id=post_id, id=ids.next_id(), created_at=now
            )
        )


async def unbookmark(db: Database, *, user_id: int, post_id: int) -> None:
    async with db.transaction() as conn:
        await _existing_post(conn, post_id, allow_deleted=True)
        await conn.execute(
            delete(bookmarks).where(bookmarks.c.user_id == user_id, bookmarks.c.post_id == post_id)
        )


async def _existing_post(conn: AsyncConnection, post_id: int, *, allow_deleted: bool = False) -> Any:
    """An original post (not a repost row); 404 when missing, or deleted unless allowed."""
    query = select(posts.c.id, posts.c.author_id, users.c.is_private).join(
        users, users.c.id == posts.c.author_id
    )
    query = query.where(posts.c.id == post_id, posts.c.repost_of_id.is_(None))
    if not allow_deleted:
        query = query.where(posts.c.deleted_at.is_(None))
    row = (await conn.execute(query)).first()
    if row is None:
        raise NotFound("post not found")
    return row


async def _visible_post(conn: AsyncConnection, user_id: int, post_id: int) -> Any:
    """A live post the user may see: 404 (as for a missing post) for a private or blocked author."""
    row = await _existing_post(conn, post_id)
    author_id = row.author_id
    if author_id == user_id:
        return row
    if row.is_private:
        follows_author = await conn.scalar(
            select(follows.c.id).where(follows.c.follower_id == user_id, follows.c.followee_id == author_id)
        )
        if follows_author is None:
            raise NotFound("post not found")
    blocked = await conn.scalar(
        select(blocks.c.blocker_id)
        .where(
            or_(
                (blocks.c.blocker_id == user_id) & (blocks.c.blocked_id == author_id),
                (blocks.c.blocker_id == author_id) & (blocks.c.blocked_id == user_id),
            )
        )
        .limit(1)
    )
    if blocked is not None:
        raise NotFound("post not found")
    return row


async def _live_repost(conn: AsyncConnection, user_id: int, post_id: int) -> int | None:
    found = await conn.scalar(
        select(posts.c.id).where(
            posts.c.author_id == user_id, posts.c.repost_of_id == post_id, posts.c.deleted_at.is_(None)
        )
    )
    return int(found) if found is not None else None


async def _count(
    conn: AsyncConnection, counters: Counters | None, post_id: int, name: str, delta: int
) -> None:
    """Embedded: `count = count + delta` in this transaction; with Counters the delta goes after commit."""
    if counters is None:
        column = _COLUMNS[name]
        await conn.execute(update(posts).where(posts.c.id == post_id).values({column: column + delta}))


async def _stored(conn: AsyncConnection, post_id: int, name: str) -> int:
    return int(await conn.scalar(select(_COLUMNS[name]).where(posts.c.id == post_id)) or 0)


async def _live(
    db: Database, counters: Counters | None, post_id: int, name: str, stored: int, delta: int
) -> int:
    """The live value: the column alone, or (buffered) the column plus the pending delta."""
    if counters is None:
        return stored
    try:
        if delta:
            # Only after the commit: a rolled-back like must leave no trace in Redis.
            return stored + await counters.add(post_id, name, delta)
        pending = await counters.pending([post_id])
    except Unavailable:
        if delta:
            # The buffer is down: the committed change goes straight to the column, so no count is lost.
            column = _COLUMNS[name]
            async with db.transaction() as conn:
                await conn.execute(
                    update(posts).where(posts.c.id == post_id).values({column: column + delta})
                )
        return stored + delta
    return stored + pending.get(post_id, {}).get(name, 0)
