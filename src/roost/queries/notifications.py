"""A user's notifications, newest first, with actors and posts hydrated, and the unread count."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.adapters.sql.tables import follow_requests, notifications, users
from roost.core.cursor import decode_cursor, encode_cursor
from roost.queries.engagement import hidden_accounts
from roost.queries.hydrate import hydrate, summary
from roost.views import Id, Page, Post, Timestamp, UserSummary, View

CURSOR_KIND = "notifications"
# Actors shown per notification ("alice, bob and 5 others"); actorCount has the full number.
SHOWN_ACTORS = 10


class Notification(View):
    id: Id
    type: str
    actors: list[UserSummary]
    actor_count: int
    post: Post | None
    created_at: Timestamp
    read: bool


class NotificationPage(Page):
    notifications: list[Notification]


async def list_notifications(
    conn: AsyncConnection, user_id: int, *, cursor: str | None, limit: int
) -> NotificationPage:
    """Newest first. Rows whose post the user can no longer see, whose actors are all blocked or muted
    now, or whose follow request is gone, are left out (pages keep filling past them)."""
    before = decode_cursor(cursor, CURSOR_KIND)[0] if cursor else None
    hidden = await hidden_accounts(conn, user_id)
    shown: list[Notification] = []
    exhausted = False
    while len(shown) <= limit and not exhausted:
        want = limit + 1 - len(shown)
        query = select(notifications).where(notifications.c.user_id == user_id)
        if before is not None:
            query = query.where(notifications.c.id < before)
        rows = (await conn.execute(query.order_by(notifications.c.id.desc()).limit(want))).all()
        exhausted = len(rows) < want
        shown.extend(await _hydrate(conn, user_id, rows, hidden))
        if rows:
            before = rows[-1].id
    more = len(shown) > limit
    page = shown[:limit]
    next_cursor = encode_cursor(CURSOR_KIND, page[-1].id) if more and page else None
    return NotificationPage(notifications=page, next_cursor=next_cursor, has_more=more)


async def unread_count(conn: AsyncConnection, user_id: int) -> int:
    count = await conn.scalar(
        select(func.count()).where(notifications.c.user_id == user_id, notifications.c.read.is_(False))
    )
    return int(count or 0)


async def _hydrate(
    conn: AsyncConnection, user_id: int, rows: Sequence[Any], hidden: frozenset[int]
) -> list[Notification]:
    post_ids = [r.post_id for r in rows if r.post_id is not None]
    items = await hydrate(conn, user_id, post_ids) if post_ids else {}
    actor_ids = {int(a) for r in rows for a in r.actor_ids[:SHOWN_ACTORS] if int(a) not in hidden}
    people = await _summaries(conn, actor_ids)
    requesters = await _requesters(conn, user_id, rows)
    result: list[Notification] = []
    for row in rows:
        post: Post | None = None
        if row.post_id is not None:
            item = items.get(row.post_id)
            if item is None or item.repost_id is not None:
                continue  # deleted, or no longer visible to the user
            post = Post(**{k: v for k, v in dict(item).items() if k not in ("reposted_by", "repost_id")})
        stored = [int(a) for a in row.actor_ids]
        visible = [a for a in stored if a not in hidden]
        if not visible:
            continue
        if row.type == "follow_request" and visible[0] not in requesters:
            continue  # withdrawn since
        actors = [people[a] for a in visible[:SHOWN_ACTORS] if a in people]
        result.append(
            Notification(
                id=row.id,
                type=row.type,
                actors=actors,
                actor_count=row.actor_count - (len(stored) - len(visible)),
                post=post,
                created_at=row.created_at,
                read=row.read,
            )
        )
    return result


async def _summaries(conn: AsyncConnection, user_ids: set[int]) -> dict[int, UserSummary]:
    if not user_ids:
        return {}
    query = select(
        users.c.id, users.c.username, users.c.display_name, users.c.avatar_url, users.c.is_verified
    ).where(users.c.id.in_(list(user_ids)))
    rows: list[Any] = list((await conn.execute(query)).all())
    return {r.id: summary(r) for r in rows}


async def _requesters(conn: AsyncConnection, user_id: int, rows: Sequence[Any]) -> set[int]:
    wanted = [int(r.actor_ids[0]) for r in rows if r.type == "follow_request" and r.actor_ids]
    if not wanted:
        return set()
    found = await conn.execute(
        select(follow_requests.c.follower_id).where(
            follow_requests.c.followee_id == user_id, follow_requests.c.follower_id.in_(wanted)
        )
    )
    return set(found.scalars())
