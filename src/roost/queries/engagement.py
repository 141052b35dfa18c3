"""Replies of a post (oldest first), a user's bookmarks, and pending follow requests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, union
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.adapters.sql.tables import blocks, bookmarks, follow_requests, mutes, posts, users
from roost.core.cursor import decode_cursor, encode_cursor
from roost.ports import Counters, PostCache
from roost.queries.hydrate import hydrate, summary
from roost.queries.posts import get_post
from roost.views import FeedItem, Page, Post, PostPage, UserSummary

REPLIES_CURSOR = "replies"
BOOKMARKS_CURSOR = "bookmarks"
REQUESTS_CURSOR = "follow-requests"


class SummaryPage(Page):
    users: list[UserSummary]


async def replies(
    conn: AsyncConnection,
    post_id: int,
    *,
    viewer_id: int | None,
    cursor: str | None,
    limit: int,
    counters: Counters | None = None,
    cache: PostCache | None = None,
) -> PostPage:
    """Visible replies, oldest first; 404 when the post itself is not visible to the viewer."""
    await get_post(conn, post_id, viewer_id=viewer_id, cache=cache)
    after = decode_cursor(cursor, REPLIES_CURSOR)[0] if cursor else 0
    hidden = await hidden_accounts(conn, viewer_id)
    shown: list[Post] = []
    exhausted = False
    while len(shown) <= limit and not exhausted:
        want = limit + 1 - len(shown)
        ids = list(
            (
                await conn.execute(
                    select(posts.c.id)
                    .where(posts.c.reply_to_id == post_id, posts.c.deleted_at.is_(None), posts.c.id > after)
                    .order_by(posts.c.id)
                    .limit(want)
                )
            ).scalars()
        )
        exhausted = len(ids) < want
        items = await hydrate(conn, viewer_id, ids, counters=counters, cache=cache)
        # Replies by private accounts the viewer doesn't follow, or by hidden accounts, drop out.
        shown.extend(_plain(items[i]) for i in ids if i in items and items[i].author.id not in hidden)
        if ids:
            after = ids[-1]
    return _post_page(shown, limit, REPLIES_CURSOR, [p.post_id for p in shown])


async def user_bookmarks(
    conn: AsyncConnection,
    user_id: int,
    *,
    cursor: str | None,
    limit: int,
    counters: Counters | None = None,
    cache: PostCache | None = None,
) -> PostPage:
    """The user's bookmarked posts, most recently bookmarked first; deleted or hidden posts drop out."""
    before = decode_cursor(cursor, BOOKMARKS_CURSOR)[0] if cursor else None
    shown: list[Post] = []
    positions: list[int] = []
    exhausted = False
    while len(shown) <= limit and not exhausted:
        want = limit + 1 - len(shown)
        query = select(bookmarks.c.id, bookmarks.c.post_id).where(bookmarks.c.user_id == user_id)
        if before is not None:
            query = query.where(bookmarks.c.id < before)
        rows = (await conn.execute(query.order_by(bookmarks.c.id.desc()).limit(want))).all()
        exhausted = len(rows) < want
        items = await hydrate(conn, user_id, [r.post_id for r in rows], counters=counters, cache=cache)
        for row in rows:
            item = items.get(row.post_id)
            if item is not None and item.repost_id is None:
                shown.append(_plain(item))
                positions.append(row.id)
        if rows:
            before = rows[-1].id
    return _post_page(shown, limit, BOOKMARKS_CURSOR, positions)


async def pending_requests(
    conn: AsyncConnection, user_id: int, *, cursor: str | None, limit: int
) -> SummaryPage:
    """Who asked to follow the user, newest request first."""
    query = (
        select(
            users.c.id,
            users.c.username,
            users.c.display_name,
            users.c.avatar_url,
            users.c.is_verified,
            follow_requests.c.id.label("request_id"),
        )
        .join(users, users.c.id == follow_requests.c.follower_id)
        .where(follow_requests.c.followee_id == user_id)
        .order_by(follow_requests.c.id.desc())
        .limit(limit + 1)
    )
    if cursor:
        query = query.where(follow_requests.c.id < decode_cursor(cursor, REQUESTS_CURSOR)[0])
    rows: list[Any] = list((await conn.execute(query)).all())
    more = len(rows) > limit
    next_cursor = encode_cursor(REQUESTS_CURSOR, rows[limit - 1].request_id) if more else None
    return SummaryPage(users=[summary(r) for r in rows[:limit]], next_cursor=next_cursor, has_more=more)


def _plain(item: FeedItem) -> Post:
    return Post(**{k: v for k, v in dict(item).items() if k not in ("reposted_by", "repost_id")})


def _post_page(shown: list[Post], limit: int, kind: str, positions: list[int]) -> PostPage:
    more = len(shown) > limit
    next_cursor = encode_cursor(kind, positions[limit - 1]) if more else None
    return PostPage(posts=shown[:limit], next_cursor=next_cursor, has_more=more)


async def hidden_accounts(conn: AsyncConnection, viewer_id: int | None) -> frozenset[int]:
    """Accounts the viewer mutes or blocks, or is blocked by."""
    if viewer_id is None:
        return frozenset()
    query = union(
        select(mutes.c.muted_id).where(mutes.c.muter_id == viewer_id),
        select(blocks.c.blocked_id).where(blocks.c.blocker_id == viewer_id),
        select(blocks.c.blocker_id).where(blocks.c.blocked_id == viewer_id),
    )
    return frozenset((await conn.execute(query)).scalars())
