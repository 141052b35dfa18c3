"""Real-time consumer: new and deleted posts go to the live streams of the followers who are online.

Only present users get events, so the audience is the intersection of followers and online users,
taken from the smaller side: a normal author's followers are checked against presence, a
celebrity's millions are not iterated, the online users are checked for the follow edge instead.
A new post gets the read-time filters of the home feed (blocks, mutes, visibility, one copy of a
reposted post) and is hydrated for each viewer. A redelivered event is published again; clients
key feed items by post id, so a repeat is harmless.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import aclosing
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.adapters.sql.database import Database
from roost.adapters.sql.tables import blocks, follows, mutes, posts, users
from roost.core.cursor import encode_cursor
from roost.ports import Event, Outgoing, RealtimeHub
from roost.queries.hydrate import hydrate
from roost.queries.notifications import CURSOR_KIND as NOTIFICATIONS_CURSOR
from roost.queries.notifications import list_notifications
from roost.workers.context import WorkerContext

FEED_POST = "feed.post"
FEED_DELETE = "feed.delete"
NOTIFICATION = "notification"
# Reposters whose followers also hear that a post is gone (their feeds showed it as a repost).
MAX_REPOSTERS = 1000
_CHUNK = 1000


class LiveUpdates:
    """`WorkerContext.realtime`: what consumers push to the live streams of online users."""

    def __init__(self, hub: RealtimeHub, db: Database) -> None:
        self.hub = hub
        self._db = db

    async def publish_to_user(self, user_id: int, event_type: str, data: Mapping[str, Any]) -> bool:
        """Publish to one user when online (offline users cost nothing); whether it was published."""
        return await self.hub.publish_to_user(user_id, event_type, data)

    async def notification_changed(self, user_id: int, notification_id: int) -> None:
        """Push a new or regrouped notification, rendered as GET /api/notifications shows it."""
        if not await self.hub.online([user_id]):
            return
        async with self._db.read() as conn:
            page = await list_notifications(
                conn, user_id, cursor=encode_cursor(NOTIFICATIONS_CURSOR, notification_id + 1), limit=1
            )
        shown = [n for n in page.notifications if n.id == notification_id]
        if shown:  # else hidden from the user (a blocked actor, a post it may not see)
            await self.hub.publish([Outgoing(user_id, NOTIFICATION, shown[0].to_json())])


async def on_post_created(ctx: WorkerContext, event: Event) -> None:
    if ctx.realtime is None:
        return
    hub = ctx.realtime.hub
    post_id = int(event.payload["postId"])
    # Who is online first: with nobody to stream to (most posts), the database is not asked.
    # (Events written before `authorId` was in the payload: the post row says.)
    author_id = event.payload.get("authorId")
    if author_id is None:
        async with ctx.db.read() as conn:
            author_id = await conn.scalar(select(posts.c.author_id).where(posts.c.id == post_id))
        if author_id is None:
            return
    audience = await online_audience(ctx, hub, [int(author_id)])
    if not audience:
        return
    async with ctx.db.read() as conn:
        row = (
            await conn.execute(
                select(posts.c.author_id, posts.c.repost_of_id).where(
                    posts.c.id == post_id, posts.c.deleted_at.is_(None)
                )
            )
        ).first()
        if row is None:
            return  # deleted before it was streamed
        original_author = (
            await conn.scalar(select(posts.c.author_id).where(posts.c.id == row.repost_of_id))
            if row.repost_of_id is not None
            else None
        )
    messages: list[Outgoing] = []
    async with ctx.db.read() as conn:
        viewers = await _admitted(conn, audience, row.author_id, original_author)
        for viewer in sorted(viewers):
            item = (await hydrate(conn, viewer, [post_id])).get(post_id)
            if item is not None:
                messages.append(Outgoing(viewer, FEED_POST, item.to_json()))
    await hub.publish(messages)


async def on_post_deleted(ctx: WorkerContext, event: Event) -> None:
    if ctx.realtime is None:
        return
    hub = ctx.realtime.hub
    post_id, author_id = int(event.payload["postId"]), int(event.payload["authorId"])
    async with ctx.db.read() as conn:
        repost_of = await conn.scalar(select(posts.c.repost_of_id).where(posts.c.id == post_id))
        reposters = list(
            (
                await conn.execute(
                    select(posts.c.author_id)
                    .where(posts.c.repost_of_id == post_id)
                    .distinct()
                    .limit(MAX_REPOSTERS)
                )
            ).scalars()
        )
    data = (
        {"postId": str(repost_of), "repostId": str(post_id)}
        if repost_of is not None
        else {"postId": str(post_id), "repostId": None}
    )
    audience = await online_audience(ctx, hub, [author_id, *reposters])
    await hub.publish([Outgoing(viewer, FEED_DELETE, data) for viewer in sorted(audience)])


async def online_audience(ctx: WorkerContext, hub: RealtimeHub, followee_ids: Sequence[int]) -> set[int]:
    """Online users among the followees and their followers, walking the smaller side."""
    batch = ctx.settings.fanout_batch_size
    # Walk the online users unless they outnumber the followers (then walk the followers):
    # with nobody online, as on most posts of a quiet server, this costs one presence read.
    online: list[int] = []
    follower_total: int | None = None
    async with aclosing(hub.online_users(batch=batch)) as chunks:
        async for chunk in chunks:
            online.extend(chunk)
            if follower_total is None:
                follower_total = await _follower_total(ctx, followee_ids)
            if len(online) > follower_total:
                break
    if follower_total is None:
        return set()  # nobody online: the followees neither
    audience = await hub.online(followee_ids)
    if len(online) <= follower_total:
        for start in range(0, len(online), batch):
            async with ctx.db.read() as conn:
                audience.update(await _following_any(conn, online[start : start + batch], followee_ids))
        return audience
    last = 0
    while True:
        async with ctx.db.read() as conn:
            followers = list(
                (
                    await conn.execute(
                        select(follows.c.follower_id)
                        .where(follows.c.followee_id.in_(followee_ids), follows.c.follower_id > last)
                        .distinct()
                        .order_by(follows.c.follower_id)
                        .limit(batch)
                    )
                ).scalars()
            )
        if followers:
            audience.update(await hub.online(followers))
        if len(followers) < batch:
            return audience
        last = followers[-1]


async def _follower_total(ctx: WorkerContext, followee_ids: Sequence[int]) -> int:
    async with ctx.db.read() as conn:
        counts = await conn.execute(select(users.c.follower_count).where(users.c.id.in_(followee_ids)))
        return sum(counts.scalars())


async def _following_any(
    conn: AsyncConnection, user_ids: Sequence[int], followee_ids: Sequence[int]
) -> set[int]:
    rows = await conn.execute(
        select(follows.c.follower_id)
        .where(follows.c.follower_id.in_(list(user_ids)), follows.c.followee_id.in_(list(followee_ids)))
        .distinct()
    )
    return set(rows.scalars())


async def _admitted(
    conn: AsyncConnection, viewers: Iterable[int], author_id: int, original_author: int | None
) -> set[int]:
    """The viewers the home feed would show the post to (graph checks; visibility is hydration's).

    A repost is skipped for viewers who follow (or are) the original's author: they have the original.
    """
    admitted = set(viewers)
    others = [author_id] if original_author is None else [author_id, original_author]
    for chunk in _chunks(sorted(admitted)):
        hidden = await conn.execute(
            select(mutes.c.muter_id)
            .where(mutes.c.muter_id.in_(chunk), mutes.c.muted_id.in_(others))
            .union(
                select(blocks.c.blocker_id).where(
                    blocks.c.blocker_id.in_(chunk), blocks.c.blocked_id.in_(others)
                ),
                select(blocks.c.blocked_id).where(
                    blocks.c.blocked_id.in_(chunk), blocks.c.blocker_id.in_(others)
                ),
            )
        )
        admitted.difference_update(hidden.scalars())
        if original_author is not None:
            has_original = await conn.execute(
                select(follows.c.follower_id).where(
                    follows.c.follower_id.in_(chunk), follows.c.followee_id == original_author
                )
            )
            admitted.difference_update(has_original.scalars())
    if original_author is not None:
        admitted.discard(original_author)
    return admitted


def _chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    for i in range(0, len(ids), _CHUNK):
        yield list(ids[i : i + _CHUNK])
