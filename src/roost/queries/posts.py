"""Single posts and a user's posts (with reposts), visibility-checked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.adapters.sql.hot import HotQuery
from roost.adapters.sql.tables import blocks, follows, posts, users
from roost.core.cursor import decode_cursor, encode_cursor
from roost.core.errors import Forbidden, NotFound
from roost.ports import Counters, PostCache
from roost.queries.hydrate import feed_item, hydrate
from roost.queries.hydrate_cached import CachedRow
from roost.views import FeedItem, FeedPage, Post

USER_POSTS_CURSOR = "user-posts"


@dataclass(frozen=True, slots=True)
class AuthorFields:
    """An author's display fields."""

    username: str
    display_name: str
    avatar_url: str | None
    is_verified: bool


@dataclass(frozen=True, slots=True)
class WrittenPost:
    """A new post as its write stored it, and its author's display fields as the write left them
    (None if the author's row was gone)."""

    post_id: int
    author_id: int
    content: str
    hashtags: list[str]
    mentions: list[dict[str, str]]
    reply_to_id: int | None
    quote_of_id: int | None
    created_at: datetime
    author: AuthorFields | None


async def get_post(
    conn: AsyncConnection,
    post_id: int,
    *,
    viewer_id: int | None,
    counters: Counters | None = None,
    cache: PostCache | None = None,
) -> Post:
    """A live, visible, original post (not a repost row); 404 otherwise, also when blocked."""
    items = await hydrate(conn, viewer_id, [post_id], counters=counters, cache=cache)
    item = items.get(post_id)
    if item is None or item.repost_id is not None:
        raise NotFound("post not found")
    if viewer_id is not None and await blocked_either_way(conn, viewer_id, item.author.id):
        raise NotFound("post not found")
    return _as_post(item)


def new_post(written: WrittenPost) -> Post | None:
    """The post its author reads back right after writing it (`get_post`), built from what the
    write stored and returned, without reading it: no likes, replies, reposts or quotes yet, nothing
    of the author's own flags set. None for a quote (its quoted post is read as the author sees it,
    by `get_post`) and when the author's row was gone."""
    author = written.author
    if written.quote_of_id is not None or author is None:
        return None
    row = CachedRow(  # as `hydrate` reads a post: see `_row` in hydrate_cached
        written.post_id,
        written.author_id,
        written.content,
        written.hashtags,
        written.mentions,
        [],
        written.reply_to_id,
        None,
        None,
        written.created_at,
        0,
        0,
        0,
        0,
        False,
        False,
        False,
        author.username,
        author.display_name,
        author.avatar_url,
        author.is_verified,
    )
    return _as_post(feed_item(row, {}, quote_of=None, reposted_by=None, repost_id=None))


_FEED_ONLY = frozenset({"reposted_by", "repost_id"})


def _as_post(item: FeedItem) -> Post:
    """A feed item as a single post (without who reposted it); its values are already typed."""
    return Post.of({name: value for name, value in item.__dict__.items() if name not in _FEED_ONLY})


async def user_posts(
    conn: AsyncConnection,
    user_id: int,
    *,
    viewer_id: int | None,
    cursor: str | None,
    limit: int,
    counters: Counters | None = None,
    cache: PostCache | None = None,
) -> FeedPage:
    """The author's posts and reposts, newest first; 403 for a private account the viewer may not see."""
    author = (await conn.execute(select(users.c.is_private).where(users.c.id == user_id))).first()
    if author is None:
        raise NotFound("user not found")
    if viewer_id is not None and viewer_id != user_id and await blocked_either_way(conn, viewer_id, user_id):
        raise Forbidden("you cannot see this account's posts")
    if author.is_private and viewer_id != user_id and not await _follows(conn, viewer_id, user_id):
        raise Forbidden("this account's posts are visible to its approved followers only")
    before = decode_cursor(cursor, USER_POSTS_CURSOR)[0] if cursor else None
    items: list[FeedItem] = []
    has_more = True
    while len(items) <= limit and has_more:
        want = limit + 1 - len(items)
        query = select(posts.c.id).where(posts.c.author_id == user_id, posts.c.deleted_at.is_(None))
        if before is not None:
            query = query.where(posts.c.id < before)
        ids = list((await conn.execute(query.order_by(posts.c.id.desc()).limit(want))).scalars())
        has_more = len(ids) == want
        hydrated = await hydrate(conn, viewer_id, ids, counters=counters, cache=cache)
        # Reposts of deleted or hidden originals drop out; keep reading so pages stay full.
        items.extend(hydrated[i] for i in ids if i in hydrated)
        if ids:
            before = ids[-1]
    more = len(items) > limit
    page = items[:limit]
    next_cursor = encode_cursor(USER_POSTS_CURSOR, page[-1].position) if more else None
    return FeedPage(posts=page, next_cursor=next_cursor, has_more=more)


async def blocked_either_way(conn: AsyncConnection, a: int, b: int) -> bool:
    """Whether either user blocks the other (never for a user and themselves)."""
    if a == b:
        return False
    return bool(await _BLOCKED_EITHER_WAY.fetch(conn, {"a": a, "b": b}))


def _blocked_either_way() -> Any:
    a, b = bindparam("a", type_=BigInteger), bindparam("b", type_=BigInteger)
    return (
        select(blocks.c.blocker_id)
        .where(
            or_(
                (blocks.c.blocker_id == a) & (blocks.c.blocked_id == b),
                (blocks.c.blocker_id == b) & (blocks.c.blocked_id == a),
            )
        )
        .limit(1)
    )


# Asked by every single-post read and post write: run on the driver's connection (see `hot`).
_BLOCKED_EITHER_WAY = HotQuery(lambda _: _blocked_either_way())


async def _follows(conn: AsyncConnection, follower_id: int | None, followee_id: int) -> bool:
    if follower_id is None:
        return False
    found = await conn.scalar(
        select(follows.c.id).where(follows.c.follower_id == follower_id, follows.c.followee_id == followee_id)
    )
    return found is not None
