"""Fan-out consumer: pushes new posts into followers' timelines and keeps timelines in step with follows."""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import BigInteger, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.adapters.sql.hot import HotQuery
from roost.adapters.sql.tables import follows, posts, users
from roost.adapters.sql.types import UtcDateTime, utc_from_driver
from roost.metrics import FANOUT_FRESHNESS, TIMELINE_INSERTS
from roost.ports import Event
from roost.queries.feed import recent_post_ids
from roost.workers.context import WorkerContext

log = logging.getLogger(__name__)

T = TypeVar("T")


async def on_post_created(ctx: WorkerContext, event: Event) -> None:
    post_id = int(event.payload["postId"])
    async with ctx.db.read() as conn:
        rows = await _LIVE_POST.fetch(conn, {"post_id": post_id})
    if not rows:
        return  # deleted before it was fanned out: nothing to push
    author_id, created_at, is_celebrity, push_from_id = rows[0]
    if ctx.recent is not None:
        await ctx.recent.add(author_id, post_id)
    if is_pulled(ctx, is_celebrity=bool(is_celebrity), push_from_id=push_from_id, post_id=post_id):
        return
    cutoff = ctx.clock() - timedelta(days=ctx.settings.inactive_days)
    batches = _with_author(author_id, _follower_batches(ctx, author_id, active_since=cutoff))
    # One run: each owner is in one batch only, so a store may skip per-owner checks after the first.
    push = functools.partial(ctx.timelines.push, post_id, run=secrets.randbits(63))
    inserted = sum(await _overlapped(batches, push))
    TIMELINE_INSERTS.inc(inserted)
    age = ctx.clock() - utc_from_driver(created_at)
    FANOUT_FRESHNESS.labels(tier="push").observe(max(0.0, age.total_seconds()))


async def _with_author(author_id: int, batches: AsyncIterator[list[int]]) -> AsyncIterator[list[int]]:
    """The author's own timeline rides with the first batch of followers: one write fewer per post.

    Each owner comes once: an author among their own followers (a self-follow, which the follow
    action refuses) is not repeated."""
    first = True
    async for batch in batches:
        if author_id in batch:
            batch = [owner for owner in batch if owner != author_id]
        yield [author_id, *batch] if first else batch
        first = False
    if first:
        yield [author_id]


def is_pulled(ctx: WorkerContext, *, is_celebrity: bool, push_from_id: int, post_id: int) -> bool:
    """Whether readers pull this post instead of finding it pushed into their timelines."""
    strategy = ctx.settings.fanout_strategy
    if strategy == "push":
        return False
    if strategy == "pull":
        return True
    return is_celebrity or post_id < push_from_id


async def on_post_deleted(ctx: WorkerContext, event: Event) -> None:
    """Reclaim timeline space; readers already skip the deleted post."""
    post_id, author_id = int(event.payload["postId"]), int(event.payload["authorId"])
    if ctx.recent is not None:
        await ctx.recent.remove(author_id, post_id)
    await ctx.timelines.remove_from_many(post_id, [author_id])
    async for batch in _follower_batches(ctx, author_id, active_since=None):
        await ctx.timelines.remove_from_many(post_id, batch)


async def on_follow_created(ctx: WorkerContext, event: Event) -> None:
    """Merge the followee's recent posts into the follower's timeline."""
    follower_id, followee_id = int(event.payload["followerId"]), int(event.payload["followeeId"])
    window = await ctx.timelines.window(follower_id, before=None, limit=1)
    if window is None:
        return  # not materialized: the next read rebuilds it with this followee in
    async with ctx.db.read() as conn:
        still = await _follows(conn, follower_id, followee_id)
        ids = (
            await recent_post_ids(
                conn, [followee_id], before=None, floor=window.floor, limit=ctx.settings.timeline_cap
            )
            if still
            else []
        )
    await ctx.timelines.merge(follower_id, ids)


async def on_follow_removed(ctx: WorkerContext, event: Event) -> None:
    """Take the former followee's posts out of the follower's timeline (readers filter already)."""
    follower_id, followee_id = int(event.payload["followerId"]), int(event.payload["followeeId"])
    window = await ctx.timelines.window(follower_id, before=None, limit=1)
    if window is None:
        return
    async with ctx.db.read() as conn:
        if await _follows(conn, follower_id, followee_id):
            return  # followed again since: keep the posts
        ids = await recent_post_ids(
            conn, [followee_id], before=None, floor=window.floor, limit=ctx.settings.timeline_cap
        )
    await ctx.timelines.remove(follower_id, ids)
    async with ctx.db.read() as conn:
        refollowed = await _follows(conn, follower_id, followee_id)
    if refollowed:
        # A follow committed while we purged, and its merge may have run before our removal
        # (several workers can take one user's events): put the posts back.
        await ctx.timelines.merge(follower_id, ids)


async def _follows(conn: AsyncConnection, follower_id: int, followee_id: int) -> bool:
    found = await conn.scalar(
        select(follows.c.id).where(follows.c.follower_id == follower_id, follows.c.followee_id == followee_id)
    )
    return found is not None


async def _overlapped(
    batches: AsyncIterator[list[int]], work: Callable[[list[int]], Coroutine[Any, Any, T]]
) -> list[T]:
    """`work` on each batch in order, each overlapping the query of the next batch.

    The database and Redis then work at the same time: a fan-out takes about the longer of its
    follower paging and its pushes instead of their sum. At most one `work` runs at a time.
    """
    results: list[T] = []
    pending: asyncio.Task[T] | None = None
    try:
        async for batch in batches:
            if pending is not None:
                results.append(await pending)
            pending = asyncio.create_task(work(batch))
        if pending is not None:
            results.append(await pending)
    finally:
        if pending is not None and not pending.done():
            # The paging failed (or we were cancelled): do not leave a push running unobserved.
            pending.cancel()
            await asyncio.gather(pending, return_exceptions=True)
    return results


async def _follower_batches(
    ctx: WorkerContext, author_id: int, *, active_since: datetime | None
) -> AsyncIterator[list[int]]:
    """Followers in id order, a batch at a time; only those active since the cutoff when given."""
    last, size = 0, ctx.settings.fanout_batch_size
    query = _FOLLOWERS if active_since is None else _ACTIVE_FOLLOWERS
    while True:
        params = {"author": author_id, "after": last, "limit": size, "since": active_since}
        async with ctx.db.read() as conn:
            batch = [row[0] for row in await query.fetch(conn, params)]
        if not batch:
            return
        yield batch
        if len(batch) < size:
            return
        last = batch[-1]


def _followers_query(active: bool) -> Any:
    query = (
        select(follows.c.follower_id)
        .where(
            follows.c.followee_id == bindparam("author", type_=BigInteger),
            follows.c.follower_id > bindparam("after", type_=BigInteger),
        )
        .order_by(follows.c.follower_id)
        .limit(bindparam("limit"))
    )
    if active:
        query = query.join(users, users.c.id == follows.c.follower_id).where(
            users.c.last_active_at >= bindparam("since", type_=UtcDateTime())
        )
    return query


def _live_post() -> Any:
    return (
        select(posts.c.author_id, posts.c.created_at, users.c.is_celebrity, users.c.push_from_id)
        .join(users, users.c.id == posts.c.author_id)
        .where(posts.c.id == bindparam("post_id", type_=BigInteger), posts.c.deleted_at.is_(None))
    )


# Every new post's first read, and the paging of a big fan-out's followers: on the driver's
# connection (see `hot`).
_LIVE_POST = HotQuery(lambda _: _live_post())
_FOLLOWERS = HotQuery(lambda _: _followers_query(active=False))
_ACTIVE_FOLLOWERS = HotQuery(lambda _: _followers_query(active=True))
