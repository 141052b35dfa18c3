"""Bulk hydration: post ids to API Posts with authors, counts, viewer flags and visibility.

A page costs a fixed number of queries whatever its size: one for the posts joined with their
authors and the viewer's liked / reposted / bookmarked flags, one more only when the page holds
reposts or quotes (their originals), and one only when private authors need the viewer's follow edges.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import BigInteger, bindparam, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.adapters.sql.tables import follows, posts, users
from roost.core.errors import Unavailable
from roost.ports import Counters, PostCache
from roost.queries.flags import viewer_flag_columns
from roost.queries.graph import GraphProbe
from roost.queries.hydrate_cached import AUTHOR_COLUMNS, COUNT_COLUMNS, POST_FIELDS, load_through_cache
from roost.views import FeedItem, MediaItem, Mention, Post, UserSummary

_POST_COLUMNS = (posts.c.id, posts.c.author_id, *POST_FIELDS, *COUNT_COLUMNS)
_AUTHOR_COLUMNS = (*AUTHOR_COLUMNS, users.c.is_private.label("author_is_private"))


def summary(row: Row[Any]) -> UserSummary:
    """A users row (id, username, display_name, avatar_url, is_verified) as a UserSummary."""
    return UserSummary.trusted(
        id=row.id,
        username=row.username,
        display_name=row.display_name,
        avatar_url=row.avatar_url,
        is_verified=row.is_verified,
    )


def author_of(row: Any) -> UserSummary:
    """The author of a row loaded by `load_posts` (or a cached row)."""
    return _summary(
        row.author_id,
        row.author_username,
        row.author_display_name,
        row.author_avatar_url,
        bool(row.author_is_verified),
    )


# Summaries are immutable and a page shows few authors, over and over: an equal summary is shared
# (keyed by every field, so a profile edit makes a new one). Sharing them took an embedded warm page
# from 4.37 to 4.11 M instructions (callgrind, session 5).
@lru_cache(maxsize=16_384)
def _summary(
    user_id: int, username: str, display_name: str, avatar_url: str | None, is_verified: bool
) -> UserSummary:
    return UserSummary.trusted(
        id=user_id,
        username=username,
        display_name=display_name,
        avatar_url=avatar_url,
        is_verified=is_verified,
    )


def _posts_query(*, with_viewer: bool) -> Any:
    """Posts by id joined with their authors, and the viewer's flags when there is a viewer."""
    viewer: Any = bindparam("viewer", type_=BigInteger)
    return (
        select(*_POST_COLUMNS, *_AUTHOR_COLUMNS, *viewer_flag_columns(viewer, with_viewer=with_viewer))
        .join(users, users.c.id == posts.c.author_id)
        .where(posts.c.id.in_(bindparam("ids", expanding=True)), posts.c.deleted_at.is_(None))
    )


# Built once: constructing these statements costs more than SQLite takes to run them.
_POSTS_FOR_VIEWER = _posts_query(with_viewer=True)
_POSTS_ANONYMOUS = _posts_query(with_viewer=False)


async def load_posts(
    conn: AsyncConnection, post_ids: Iterable[int], viewer_id: int | None = None
) -> dict[int, Any]:
    """Live (not deleted) post rows by id, with their author's columns and the viewer's flags."""
    wanted = list(set(post_ids))
    if not wanted:
        return {}
    if viewer_id is None:
        rows = await conn.execute(_POSTS_ANONYMOUS, {"ids": wanted})
    else:
        rows = await conn.execute(_POSTS_FOR_VIEWER, {"ids": wanted, "viewer": viewer_id})
    return {r.id: r for r in rows}


async def visible_authors(conn: AsyncConnection, viewer_id: int | None, rows: Iterable[Any]) -> set[int]:
    """Authors whose posts the viewer may see: public ones, the viewer, and private ones it follows."""
    visible: set[int] = set()
    private: set[int] = set()
    for row in rows:
        if not row.author_is_private or row.author_id == viewer_id:
            visible.add(row.author_id)
        else:
            private.add(row.author_id)
    if private and viewer_id is not None:
        edges = await conn.execute(
            select(follows.c.followee_id).where(
                follows.c.follower_id == viewer_id, follows.c.followee_id.in_(list(private))
            )
        )
        visible.update(r.followee_id for r in edges)
    return visible


async def hydrate(
    conn: AsyncConnection,
    viewer_id: int | None,
    post_ids: Sequence[int],
    *,
    counters: Counters | None = None,
    cache: PostCache | None = None,
    probe: GraphProbe | None = None,
) -> dict[int, FeedItem]:
    """FeedItems for the ids that exist, are live and visible to the viewer; others are left out.

    A repost id becomes the original post with `repostedBy` and `repostId`; a repost of a deleted
    or invisible post is left out too. With a cache (production), see `roost.queries.hydrate_cached`;
    only that path fills a `probe` of the viewer's graph key.
    """
    rows: dict[int, Any]
    if cache is not None:
        rows, visible = await load_through_cache(conn, cache, post_ids, viewer_id, probe)
    else:
        rows = await load_posts(conn, post_ids, viewer_id)
        referenced = {r.repost_of_id for r in rows.values() if r.repost_of_id is not None}
        referenced |= {r.quote_of_id for r in rows.values() if r.quote_of_id is not None}
        rows.update(await load_posts(conn, referenced - rows.keys(), viewer_id))
        # A quote inside a reposted original: one level deeper, still bounded by the page.
        nested = {r.quote_of_id for r in rows.values() if r.quote_of_id is not None} - rows.keys()
        rows.update(await load_posts(conn, nested, viewer_id))
        visible = await visible_authors(conn, viewer_id, rows.values())
    shown_ids = [r.id for r in rows.values() if r.repost_of_id is None and r.author_id in visible]
    # Counts are the stored column plus what is still buffered (production profile).
    pending = await _pending(counters, shown_ids)

    page = _Page(rows, visible, pending)
    result: dict[int, FeedItem] = {}
    for post_id in post_ids:
        row = rows.get(post_id)
        if row is None or row.author_id not in visible:
            continue
        if row.repost_of_id is None:
            item = page.item_of(post_id, nested=False)
        else:
            item = page.item_of(row.repost_of_id, nested=False, repost=row)
        if item is not None:
            result[post_id] = item
    return result


class _Page:
    """What a page's items are built from. A class, not a closure: a nested function that calls
    itself is a reference cycle, which left every page's rows to the cyclic garbage collector (in
    the production API, a 6-12 ms young-generation pass every ~330 pages; BENCHMARKS.md)."""

    __slots__ = ("pending", "rows", "visible")

    def __init__(self, rows: dict[int, Any], visible: set[int], pending: dict[int, dict[str, int]]) -> None:
        self.rows = rows
        self.visible = visible
        self.pending = pending

    def item_of(self, post_id: int | None, *, nested: bool, repost: Any = None) -> FeedItem | None:
        row = self.rows.get(post_id) if post_id is not None else None
        if row is None or row.repost_of_id is not None or row.author_id not in self.visible:
            return None
        quote_of = None if nested else self.item_of(row.quote_of_id, nested=True)
        reposter = author_of(repost) if repost is not None else None
        return feed_item(
            row,
            self.pending.get(row.id, {}),
            quote_of=quote_of,
            reposted_by=reposter,
            repost_id=repost.id if repost is not None else None,
        )


async def _pending(counters: Counters | None, post_ids: list[int]) -> dict[int, dict[str, int]]:
    """Buffered count deltas; while their store is down, pages show the stored counts."""
    if counters is None or not post_ids:
        return {}
    try:
        return await counters.pending(post_ids)
    except Unavailable:
        return {}


def feed_item(
    row: Any,
    pending: dict[str, int],
    *,
    quote_of: Post | None,
    reposted_by: UserSummary | None,
    repost_id: int | None,
) -> FeedItem:
    """Built without re-validation: every value comes typed from our own database rows."""
    media = [MediaItem.model_validate(m) for m in row.media] if row.media else []
    return FeedItem.of(
        {
            "post_id": row.id,
            "author": author_of(row),
            "content": row.content,
            "media_urls": [m.url for m in media],
            "media": media,
            "hashtags": row.hashtags,
            "mentions": [Mention.trusted(id=int(m["id"]), username=m["username"]) for m in row.mentions],
            "created_at": row.created_at,
            "reply_to_id": row.reply_to_id,
            "quote_of": quote_of,
            "like_count": row.like_count + pending.get("like", 0),
            "comment_count": row.reply_count,
            "repost_count": row.repost_count + pending.get("repost", 0),
            "quote_count": row.quote_count,
            "liked": bool(row.liked),
            "reposted": bool(row.reposted),
            "bookmarked": bool(row.bookmarked),
            "reposted_by": reposted_by,
            "repost_id": repost_id,
        }
    )
