"""Notification consumer: outbox events become notification rows; likes and reposts of a post are grouped.

Every notification row has a `group_key` naming what it is about, e.g. `like:<post>` (one growing
group per post and recipient), `reply:<reply post>` or `follow:u<follower>`; it makes handlers
idempotent (redelivery finds the row) and lets a deleted post's notifications go by index.
Each handler checks the current state (the like still exists, the post is still live), so an
event overtaken by its undo does nothing. Nobody is notified of their own actions, nor by accounts
they block, mute or are blocked by, nor about a private account's post they may not see.

Order: workers handle the events of different users concurrently, so a like can be handled after
a later one. A new or regrouped notification takes a fresh id when it is written, so it goes on top
of everything the recipient may have seen and marked read (`upToId`), as Mastodon's do; its time is
when its newest event happened. A group's actors are ordered by the ids of the events that added
them (`actor_marks`), so a late like lands in its place among them. Recipients are locked (in id
order) while their notifications are written, so concurrent events neither split nor lose a group.

Real time: after each commit, `announce` calls `ctx.realtime.notification_changed(user_id,
notification_id)` when the context has a real-time layer; that is the one place where a new or
regrouped notification is known.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.adapters.sql.tables import (
    blocks,
    follow_requests,
    follows,
    likes,
    mutes,
    notifications,
    posts,
    users,
)
from roost.core.ids import id_to_datetime
from roost.ports import Event
from roost.workers.context import WorkerContext

log = logging.getLogger(__name__)

# Actor ids kept per group (newest first); actor_count stays exact beyond it.
MAX_GROUP_ACTORS = 50

# (recipient, notification id) pairs changed by one event.
Changes = list[tuple[int, int]]


def post_key(kind: str, post_id: int) -> str:
    return f"{kind}:{post_id}"


def user_key(kind: str, actor_id: int) -> str:
    return f"{kind}:u{actor_id}"


async def on_post_created(ctx: WorkerContext, event: Event) -> None:
    """A repost notifies the original's author (grouped); a post notifies the replied, quoted, mentioned."""
    if event.payload.get("notifies") is False:
        return  # a plain post, as its writer knew (reposts and older events carry no flag)
    post_id = int(event.payload["postId"])
    async with ctx.db.read() as conn:
        row = await _post(conn, post_id)
    if row is None or row.deleted_at is not None:
        return
    if row.repost_of_id is None and row.reply_to_id is None and row.quote_of_id is None and not row.mentions:
        return  # most posts notify nobody: no write transaction for them
    changes: Changes = []
    async with ctx.db.transaction() as conn:
        row = await _post(conn, post_id)
        if row is None or row.deleted_at is not None:
            return
        actor = row.author_id
        if row.repost_of_id is not None:
            original = await _post(conn, row.repost_of_id)
            if original is not None and original.deleted_at is None:
                changes += await _join_group(
                    ctx, conn, event, original.author_id, "repost", original.id, actor
                )
        else:
            targets = [
                ("reply", await _post(conn, row.reply_to_id) if row.reply_to_id is not None else None),
                ("quote", await _post(conn, row.quote_of_id) if row.quote_of_id is not None else None),
            ]
            # Every recipient locked up front, in id order: two posts that mention the same people
            # in different orders would otherwise deadlock.
            recipients = {t.author_id for _, t in targets if t is not None} | {
                int(m["id"]) for m in row.mentions
            }
            await _lock(conn, *recipients)
            notified: set[int] = set()
            for kind, target in targets:
                if target is not None and target.author_id not in notified:
                    notified.add(target.author_id)
                    key = post_key(kind, row.id)
                    changes += await _single(
                        ctx, conn, event, target.author_id, kind, key, actor=actor, post_id=row.id
                    )
            for mention in row.mentions:
                user_id = int(mention["id"])
                if user_id not in notified:
                    notified.add(user_id)
                    key = post_key("mention", row.id)
                    changes += await _single(
                        ctx, conn, event, user_id, "mention", key, actor=actor, post_id=row.id
                    )
    await announce(ctx, changes)


async def on_post_deleted(ctx: WorkerContext, event: Event) -> None:
    """An undone repost leaves its group; a deleted post takes every notification about it along."""
    changes: Changes = []
    async with ctx.db.transaction() as conn:
        row = await _post(conn, int(event.payload["postId"]))
        if row is None or row.deleted_at is None:
            return
        if row.repost_of_id is not None:
            original = await _post(conn, row.repost_of_id)
            still = await conn.scalar(
                select(posts.c.id).where(
                    posts.c.author_id == row.author_id,
                    posts.c.repost_of_id == row.repost_of_id,
                    posts.c.deleted_at.is_(None),
                )
            )
            if original is not None and still is None:
                changes += await _leave_group(conn, original.author_id, "repost", original.id, row.author_id)
        else:
            recipients = {row.author_id, *(int(m["id"]) for m in row.mentions)}
            for target_id in (row.reply_to_id, row.quote_of_id):
                target = await _post(conn, target_id) if target_id is not None else None
                if target is not None:
                    recipients.add(target.author_id)
            keys = [post_key(kind, row.id) for kind in ("like", "repost", "reply", "quote", "mention")]
            await conn.execute(
                delete(notifications).where(
                    notifications.c.user_id.in_(recipients), notifications.c.group_key.in_(keys)
                )
            )
    await announce(ctx, changes)


async def on_like_created(ctx: WorkerContext, event: Event) -> None:
    user_id, post_id = int(event.payload["userId"]), int(event.payload["postId"])
    changes: Changes = []
    async with ctx.db.transaction() as conn:
        post = await _post(conn, post_id)
        if post is not None and post.deleted_at is None and await _liked(conn, user_id, post_id):
            changes = await _join_group(ctx, conn, event, post.author_id, "like", post_id, user_id)
    await announce(ctx, changes)


async def on_like_removed(ctx: WorkerContext, event: Event) -> None:
    user_id, post_id = int(event.payload["userId"]), int(event.payload["postId"])
    changes: Changes = []
    async with ctx.db.transaction() as conn:
        post = await _post(conn, post_id)
        if post is not None and not await _liked(conn, user_id, post_id):
            changes = await _leave_group(conn, post.author_id, "like", post_id, user_id)
    await announce(ctx, changes)


async def on_follow_created(ctx: WorkerContext, event: Event) -> None:
    """A follow (also an approved request, which replaces the request's notification)."""
    follower_id, followee_id = int(event.payload["followerId"]), int(event.payload["followeeId"])
    changes: Changes = []
    async with ctx.db.transaction() as conn:
        await _drop(conn, followee_id, user_key("follow_request", follower_id))
        edge = await conn.scalar(
            select(follows.c.id).where(
                follows.c.follower_id == follower_id, follows.c.followee_id == followee_id
            )
        )
        if edge is not None:
            await _lock(conn, followee_id)
            key = user_key("follow", follower_id)
            changes = await _single(ctx, conn, event, followee_id, "follow", key, actor=follower_id)
    await announce(ctx, changes)


async def on_follow_requested(ctx: WorkerContext, event: Event) -> None:
    follower_id, followee_id = int(event.payload["followerId"]), int(event.payload["followeeId"])
    changes: Changes = []
    async with ctx.db.transaction() as conn:
        pending = await conn.scalar(
            select(follow_requests.c.id).where(
                follow_requests.c.follower_id == follower_id, follow_requests.c.followee_id == followee_id
            )
        )
        if pending is not None:
            await _lock(conn, followee_id)
            key = user_key("follow_request", follower_id)
            changes = await _single(ctx, conn, event, followee_id, "follow_request", key, actor=follower_id)
    await announce(ctx, changes)


async def on_follow_request_rejected(ctx: WorkerContext, event: Event) -> None:
    follower_id, followee_id = int(event.payload["followerId"]), int(event.payload["followeeId"])
    async with ctx.db.transaction() as conn:
        await _drop(conn, followee_id, user_key("follow_request", follower_id))


async def announce(ctx: WorkerContext, changes: Sequence[tuple[int, int]]) -> None:
    """Tell the real-time layer (when there is one) about committed new or updated notifications."""
    listener = ctx.realtime
    if listener is None:
        return
    for user_id, notification_id in changes:
        try:
            await listener.notification_changed(user_id, notification_id)
        except Exception:
            # The row is committed; a missed push is caught up by the client's next fetch.
            log.exception("real-time notification push failed for user %s", user_id)


async def _single(
    ctx: WorkerContext,
    conn: AsyncConnection,
    event: Event,
    recipient: int,
    kind: str,
    key: str,
    *,
    actor: int,
    post_id: int | None = None,
) -> Changes:
    """One notification per key: about the actor's post (reply, quote, mention) or about the actor.
    The caller holds the recipient's lock."""
    if not await _may_notify(conn, recipient, actor, about_post_of_actor=post_id is not None):
        return []
    if await _find(conn, recipient, key) is not None:
        return []
    return await _insert_new(ctx, conn, event, recipient, kind, post_id, key, actor)


async def _lock(conn: AsyncConnection, *recipients: int) -> None:
    """One writer of a recipient's notifications at a time (PostgreSQL; SQLite has one writer), so
    concurrent events neither split or lose a group nor write one notification twice. Several
    recipients are locked in id order; locking one again in the same transaction is free. FOR NO
    KEY UPDATE: inserts that refer to the user (foreign keys) need not wait for it."""
    if recipients:
        query = select(users.c.id).where(users.c.id.in_(sorted(recipients))).order_by(users.c.id)
        await conn.execute(query.with_for_update(key_share=True))


async def _insert_new(
    ctx: WorkerContext,
    conn: AsyncConnection,
    event: Event,
    recipient: int,
    kind: str,
    post_id: int | None,
    key: str,
    actor: int,
) -> Changes:
    """A new, unread notification with one actor, dated by its event (the recipient locked)."""
    notification_id = ctx.ids.next_id()
    await conn.execute(
        notifications.insert().values(
            id=notification_id,
            user_id=recipient,
            type=kind,
            post_id=post_id,
            group_key=key,
            actor_ids=[actor],
            actor_marks=[event.id],
            actor_count=1,
            read=False,
            created_at=id_to_datetime(event.id),
        )
    )
    return [(recipient, notification_id)]


async def _join_group(
    ctx: WorkerContext,
    conn: AsyncConnection,
    event: Event,
    recipient: int,
    kind: str,
    post_id: int,
    actor: int,
) -> Changes:
    """Add the actor to the recipient's group for this post, in the place of its event among the
    actors; the group moves to the top, unread."""
    if not await _may_notify(conn, recipient, actor, about_post_of_actor=False):
        return []
    await _lock(conn, recipient)
    key = post_key(kind, post_id)
    group = await _find(conn, recipient, key)
    if group is None:
        return await _insert_new(ctx, conn, event, recipient, kind, post_id, key, actor)
    actors = [int(a) for a in group.actor_ids]
    if actor in actors:
        return []
    marks = _marks(group)
    place = sum(1 for mark in marks if mark > event.id)  # after the actors of later events
    # An actor older than every kept one is only counted: a redelivery of its event counts it
    # again (counting it from the likes themselves would count events not yet handled).
    actors.insert(place, actor)
    marks.insert(place, event.id)
    notification_id = ctx.ids.next_id()
    await conn.execute(
        update(notifications)
        .where(notifications.c.user_id == recipient, notifications.c.id == group.id)
        .values(
            id=notification_id,
            actor_ids=actors[:MAX_GROUP_ACTORS],
            actor_marks=marks[:MAX_GROUP_ACTORS],
            actor_count=group.actor_count + 1,
            read=False,
            created_at=id_to_datetime(marks[0]),
        )
    )
    return [(recipient, notification_id)]


def _marks(group: Any) -> list[int]:
    """The event id of each kept actor; rows from before revision 0004 get marks in their order."""
    actors = group.actor_ids
    marks = group.actor_marks
    if marks is not None and len(marks) >= len(actors):
        return [int(m) for m in marks[: len(actors)]]
    return [group.id - i for i in range(len(actors))]


async def _leave_group(conn: AsyncConnection, recipient: int, kind: str, post_id: int, actor: int) -> Changes:
    """Take the actor out of the group; an emptied group goes."""
    await _lock(conn, recipient)
    group = await _find(conn, recipient, post_key(kind, post_id))
    if group is None:
        return []
    actors = [int(a) for a in group.actor_ids]
    marks = _marks(group)
    if actor in actors:
        marks.pop(actors.index(actor))
        actors.remove(actor)
    elif group.actor_count <= len(actors):
        return []  # not in the group (older than the kept actors only if the count says so)
    count = group.actor_count - 1
    if count <= 0:
        await conn.execute(
            delete(notifications).where(notifications.c.user_id == recipient, notifications.c.id == group.id)
        )
        return []
    await conn.execute(
        update(notifications)
        .where(notifications.c.user_id == recipient, notifications.c.id == group.id)
        .values(actor_ids=actors, actor_marks=marks, actor_count=count)
    )
    return [(recipient, group.id)]


async def _may_notify(
    conn: AsyncConnection, recipient: int, actor: int, *, about_post_of_actor: bool
) -> bool:
    """Not about oneself, not across a block or from a muted account, not about a post the recipient can't see."""
    if recipient == actor:
        return False
    shut = await conn.scalar(
        select(blocks.c.blocker_id)
        .where(
            or_(
                (blocks.c.blocker_id == recipient) & (blocks.c.blocked_id == actor),
                (blocks.c.blocker_id == actor) & (blocks.c.blocked_id == recipient),
            )
        )
        .union_all(select(mutes.c.muter_id).where(mutes.c.muter_id == recipient, mutes.c.muted_id == actor))
        .limit(1)
    )
    if shut is not None:
        return False
    if about_post_of_actor and await conn.scalar(select(users.c.is_private).where(users.c.id == actor)):
        follower = await conn.scalar(
            select(follows.c.id).where(follows.c.follower_id == recipient, follows.c.followee_id == actor)
        )
        return follower is not None
    return True


async def _find(conn: AsyncConnection, user_id: int, key: str) -> Any:
    return (
        await conn.execute(
            select(
                notifications.c.id,
                notifications.c.actor_ids,
                notifications.c.actor_marks,
                notifications.c.actor_count,
            ).where(notifications.c.user_id == user_id, notifications.c.group_key == key)
        )
    ).first()


async def _drop(conn: AsyncConnection, user_id: int, key: str) -> None:
    await conn.execute(
        delete(notifications).where(notifications.c.user_id == user_id, notifications.c.group_key == key)
    )


async def _post(conn: AsyncConnection, post_id: int) -> Any:
    """A post row, deleted or not."""
    return (
        await conn.execute(
            select(
                posts.c.id,
                posts.c.author_id,
                posts.c.reply_to_id,
                posts.c.quote_of_id,
                posts.c.repost_of_id,
                posts.c.mentions,
                posts.c.deleted_at,
            ).where(posts.c.id == post_id)
        )
    ).first()


async def _liked(conn: AsyncConnection, user_id: int, post_id: int) -> bool:
    found = await conn.scalar(
        select(likes.c.user_id).where(likes.c.user_id == user_id, likes.c.post_id == post_id)
    )
    return found is not None
