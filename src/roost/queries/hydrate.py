"""Bulk hydration: post ids to API Posts with authors, counts, viewer flags and visibility.

A page costs a fixed number of queries whatever its size: posts (with originals of reposts and
quoted posts), their authors, the viewer's follow edges to private authors, and the viewer's
liked / reposted / bookmarked flags in one UNION query.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import literal, select, union_all
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.adapters.sql.tables import bookmarks, follows, likes, posts, users
from roost.core.errors import Unavailable
from roost.ports import Counters
from roost.views import FeedItem, Mention, Post, UserSummary

_POST_COLUMNS = (
    posts.c.id,
    posts.c.author_id,
    posts.c.content,
    posts.c.hashtags,
    posts.c.mentions,
    posts.c.media,
    posts.c.reply_to_id,
    posts.c.quote_of_id,
    posts.c.repost_of_id,
    posts.c.like_count,
    posts.c.reply_count,
    posts.c.repost_count,
    posts.c.quote_count,
    posts.c.created_at,
)
_USER_COLUMNS = (
    users.c.id,
    users.c.username,
    users.c.display_name,
    users.c.avatar_url,
    users.c.is_verified,
    users.c.is_private,
)


@dataclass(frozen=True, slots=True)
class Flags:
    liked: frozenset[int]
    reposted: frozenset[int]
    bookmarked: frozenset[int]


_NO_FLAGS = Flags(frozenset(), frozenset(), frozenset())


def summary(row: Row[Any]) -> UserSummary:
    return UserSummary(
        id=row.id,
        username=row.username,
        display_name=row.display_name,
        avatar_url=row.avatar_url,
        is_verified=row.is_verified,
    )


async def load_posts(conn: AsyncConnection, post_ids: Iterable[int]) -> dict[int, Any]:
    """Live (not deleted) post rows by id."""
    wanted = list(set(post_ids))
    if not wanted:
        return {}
    rows = await conn.execute(
        select(*_POST_COLUMNS).where(posts.c.id.in_(wanted), posts.c.deleted_at.is_(None))
    )
    return {r.id: r for r in rows}


async def visible_authors(
    conn: AsyncConnection, viewer_id: int | None, author_rows: Iterable[Row[Any]]
) -> set[int]:
    """Authors whose posts the viewer may see: public ones, the viewer, and private ones it follows."""
    visible: set[int] = set()
    private: list[int] = []
    for row in author_rows:
        if not row.is_private or row.id == viewer_id:
            visible.add(row.id)
        else:
            private.append(row.id)
    if private and viewer_id is not None:
        rows = await conn.execute(
            select(follows.c.followee_id).where(
                follows.c.follower_id == viewer_id, follows.c.followee_id.in_(private)
            )
        )
        visible.update(r.followee_id for r in rows)
    return visible


async def viewer_flags(conn: AsyncConnection, viewer_id: int | None, post_ids: Sequence[int]) -> Flags:
    if viewer_id is None or not post_ids:
        return _NO_FLAGS
    ids = list(post_ids)
    query = union_all(
        select(literal("l").label("kind"), likes.c.post_id).where(
            likes.c.user_id == viewer_id, likes.c.post_id.in_(ids)
        ),
        select(literal("r").label("kind"), posts.c.repost_of_id).where(
            posts.c.author_id == viewer_id, posts.c.repost_of_id.in_(ids), posts.c.deleted_at.is_(None)
        ),
        select(literal("b").label("kind"), bookmarks.c.post_id).where(
            bookmarks.c.user_id == viewer_id, bookmarks.c.post_id.in_(ids)
        ),
    )
    found: dict[str, set[int]] = {"l": set(), "r": set(), "b": set()}
    for kind, post_id in await conn.execute(query):
        found[kind].add(post_id)
    return Flags(frozenset(found["l"]), frozenset(found["r"]), frozenset(found["b"]))


async def hydrate(
    conn: AsyncConnection,
    viewer_id: int | None,
    post_ids: Sequence[int],
    *,
    counters: Counters | None = None,
) -> dict[int, FeedItem]:
    """FeedItems for the ids that exist, are live and visible to the viewer; others are left out.

    A repost id becomes the original post with `repostedBy` and `repostId`; a repost of a deleted
    or invisible post is left out too.
    """
    rows = await load_posts(conn, post_ids)
    originals = {r.repost_of_id for r in rows.values() if r.repost_of_id is not None}
    missing = originals - rows.keys()
    rows.update(await load_posts(conn, missing))
    quoted = {r.quote_of_id for r in rows.values() if r.quote_of_id is not None} - rows.keys()
    rows.update(await load_posts(conn, quoted))
    author_ids = {r.author_id for r in rows.values()}
    author_rows = await _load_users(conn, author_ids)
    visible = await visible_authors(conn, viewer_id, author_rows.values())
    shown_ids = [r.id for r in rows.values() if r.repost_of_id is None and r.author_id in visible]
    flags = await viewer_flags(conn, viewer_id, shown_ids)
    # Counts are the stored column plus what is still buffered (production profile).
    pending = await _pending(counters, shown_ids)

    def post_of(post_id: int | None, *, nested: bool) -> Post | None:
        row = rows.get(post_id) if post_id is not None else None
        if row is None or row.repost_of_id is not None or row.author_id not in visible:
            return None
        quote_of = None if nested else post_of(row.quote_of_id, nested=True)
        return _post(row, author_rows, flags, pending.get(row.id, {}), quote_of)

    result: dict[int, FeedItem] = {}
    for post_id in post_ids:
        row = rows.get(post_id)
        if row is None or row.author_id not in visible:
            continue
        if row.repost_of_id is None:
            post = post_of(post_id, nested=False)
            if post is not None:
                result[post_id] = FeedItem(**dict(post), reposted_by=None, repost_id=None)
        else:
            original = post_of(row.repost_of_id, nested=False)
            if original is not None:
                reposter = summary(author_rows[row.author_id])
                result[post_id] = FeedItem(**dict(original), reposted_by=reposter, repost_id=row.id)
    return result


async def _pending(counters: Counters | None, post_ids: list[int]) -> dict[int, dict[str, int]]:
    """Buffered count deltas; while their store is down, pages show the stored counts."""
    if counters is None or not post_ids:
        return {}
    try:
        return await counters.pending(post_ids)
    except Unavailable:
        return {}


async def _load_users(conn: AsyncConnection, user_ids: Iterable[int]) -> dict[int, Any]:
    wanted = list(set(user_ids))
    if not wanted:
        return {}
    return {r.id: r for r in await conn.execute(select(*_USER_COLUMNS).where(users.c.id.in_(wanted)))}


def _post(
    row: Row[Any], authors: dict[int, Any], flags: Flags, pending: dict[str, int], quote_of: Post | None
) -> Post:
    media = row.media or []
    return Post(
        post_id=row.id,
        author=summary(authors[row.author_id]),
        content=row.content,
        media_urls=[m["url"] for m in media],
        media=media,
        hashtags=row.hashtags,
        mentions=[Mention(id=int(m["id"]), username=m["username"]) for m in row.mentions],
        created_at=row.created_at,
        reply_to_id=row.reply_to_id,
        quote_of=quote_of,
        like_count=row.like_count + pending.get("like", 0),
        comment_count=row.reply_count,
        repost_count=row.repost_count + pending.get("repost", 0),
        quote_count=row.quote_count,
        liked=row.id in flags.liked,
        reposted=row.id in flags.reposted,
        bookmarked=row.id in flags.bookmarked,
    )
