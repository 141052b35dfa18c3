"""Writing and deleting posts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Insert, Table, Update, bindparam, case, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.adapters.sql.database import Database
from roost.adapters.sql.hot import HotWrite
from roost.adapters.sql.outbox import emit, event_params, insert_event
from roost.adapters.sql.tables import blocks, follows, posts, users
from roost.core.errors import Forbidden, NotFound, ValidationFailed
from roost.core.ids import IdGenerator
from roost.core.text import (
    MAX_POST_CHARS,
    content_length,
    extract_hashtags,
    extract_mentions,
    normalize_content,
)
from roost.ports import PostCache
from roost.queries.hydrate_cached import post_entry
from roost.queries.posts import AuthorFields, WrittenPost

POST_CREATED = "post.created"
POST_DELETED = "post.deleted"


async def create_post(
    db: Database,
    ids: IdGenerator,
    *,
    author_id: int,
    content: str,
    now: datetime,
    reply_to_id: int | None = None,
    quote_of_id: int | None = None,
    cache: PostCache | None = None,
) -> int:
    """Store a post and its `post.created` event in one transaction; returns the post id."""
    written = await write_post(
        db,
        ids,
        author_id=author_id,
        content=content,
        now=now,
        reply_to_id=reply_to_id,
        quote_of_id=quote_of_id,
        cache=cache,
    )
    return written.post_id


async def write_post(
    db: Database,
    ids: IdGenerator,
    *,
    author_id: int,
    content: str,
    now: datetime,
    reply_to_id: int | None = None,
    quote_of_id: int | None = None,
    cache: PostCache | None = None,
) -> WrittenPost:
    """`create_post`, returning what was stored. With a post cache, the post's entry is put there
    after the commit: the author's and followers' next pages then read only what can change."""
    text = normalize_content(content)
    length = content_length(text)
    if not 1 <= length <= MAX_POST_CHARS:
        raise ValidationFailed(
            f"content must be 1 to {MAX_POST_CHARS} characters after trimming (got {length})"
        )
    mentioned = extract_mentions(text)
    resolved: list[dict[str, str]] = []  # the mentions that name users (none unless some were written)

    async def checked(conn: AsyncConnection) -> dict[str, Any]:
        """The mentions that name users; raises when the replied-to or quoted post is not visible."""
        if reply_to_id is not None:
            await _require_visible_post(conn, reply_to_id, "replyToId", viewer_id=author_id)
        if quote_of_id is not None:
            await _require_visible_post(conn, quote_of_id, "quoteOfId", viewer_id=author_id)
        resolved[:] = await _resolve_mentions(conn, mentioned)
        return {"mentions": resolved}

    post_id = ids.next_id()
    # Whether the post may notify anyone (reply, quote, mention): most posts notify nobody, and the
    # notifications worker then need not read them.
    notifies = bool(mentioned) or reply_to_id is not None or quote_of_id is not None
    payload = {"postId": post_id, "authorId": author_id, "notifies": notifies}
    hashtags = extract_hashtags(text)
    author = await db.write_once(
        _WRITE_POST,
        {
            "post_id": post_id,
            "author_id": author_id,
            "content": text,
            "hashtags": hashtags,
            "mentions": [],
            "media": [],
            "reply_to_id": reply_to_id,
            "quote_of_id": quote_of_id,
            "created_at": now,
            **event_params(ids, POST_CREATED, key=author_id, payload=payload),
        },
        prepare=checked if notifies else None,
    )
    if cache is not None:
        entry = post_entry(
            content=text,
            hashtags=hashtags,
            mentions=resolved,
            media=[],
            reply_to_id=reply_to_id,
            quote_of_id=quote_of_id,
            repost_of_id=None,
            created_at=now,
        )
        await cache.put({post_id: entry})
    return WrittenPost(
        post_id=post_id,
        author_id=author_id,
        content=text,
        hashtags=hashtags,
        mentions=resolved,
        reply_to_id=reply_to_id,
        quote_of_id=quote_of_id,
        created_at=now,
        author=_author_fields(author[0]) if author else None,
    )


def _author_fields(row: Sequence[Any]) -> AuthorFields:
    username, display_name, avatar_url, is_verified = row
    return AuthorFields(username, display_name, avatar_url, bool(is_verified))  # SQLite: 0 / 1


def _insert_post() -> Insert:
    names = (
        "author_id",
        "content",
        "hashtags",
        "mentions",
        "media",
        "reply_to_id",
        "quote_of_id",
        "created_at",
    )
    return posts.insert().values(id=bindparam("post_id"), **{name: bindparam(name) for name in names})


def _count_reply_and_quote() -> Update:
    # One update for both: a post may reply to and quote the same post, and two parts of a
    # `HotWrite` must not change one row. NULL (no reply, no quote) matches no row.
    reply_to, quote_of = (
        bindparam("reply_to_id", type_=BigInteger),
        bindparam("quote_of_id", type_=BigInteger),
    )
    return (
        update(posts)
        .where(or_(posts.c.id == reply_to, posts.c.id == quote_of))
        .values(
            reply_count=posts.c.reply_count + case((posts.c.id == reply_to, 1), else_=0),
            quote_count=posts.c.quote_count + case((posts.c.id == quote_of, 1), else_=0),
        )
    )


# A new post: its author's post count (first: the author's row is locked before any post's, in
# the order of `delete_post`; it returns the author's display fields, for the answer), the counts of
# the post it replies to or quotes, its row and its event. One statement on PostgreSQL (see
# `HotWrite`); the checks read before it there.
_WRITE_POST = HotWrite(
    lambda: (
        update(users).where(users.c.id == bindparam("author_id")).values(post_count=users.c.post_count + 1)
    ),
    _count_reply_and_quote,
    _insert_post,
    insert_event,
    returning=lambda: (users.c.username, users.c.display_name, users.c.avatar_url, users.c.is_verified),
)


async def delete_post(
    db: Database,
    ids: IdGenerator,
    *,
    user_id: int,
    post_id: int,
    now: datetime,
    cache: PostCache | None = None,
) -> None:
    """Soft-delete: the post leaves every feed and profile at once (read-time filter), then storage."""
    async with db.transaction() as conn:
        row = (
            await conn.execute(
                select(
                    posts.c.author_id, posts.c.reply_to_id, posts.c.quote_of_id, posts.c.repost_of_id
                ).where(posts.c.id == post_id, posts.c.deleted_at.is_(None))
            )
        ).first()
        if row is None or row.repost_of_id is not None:
            raise NotFound("post not found")
        if row.author_id != user_id:
            raise Forbidden("only the author can delete a post")
        # Conditional, so of two concurrent deletes only one gets a row and moves the counts.
        deleted = await conn.execute(
            update(posts).where(posts.c.id == post_id, posts.c.deleted_at.is_(None)).values(deleted_at=now)
        )
        if not deleted.rowcount:
            raise NotFound("post not found")
        await _bump_post_count(conn, user_id, -1)
        if row.reply_to_id is not None:
            await _bump(conn, row.reply_to_id, posts.c.reply_count, -1)
        if row.quote_of_id is not None:
            await _bump(conn, row.quote_of_id, posts.c.quote_count, -1)
        await emit(conn, ids, POST_DELETED, key=user_id, payload={"postId": post_id, "authorId": user_id})
    if cache is not None:
        # Hydration checks liveness in the database anyway; this only frees the entry.
        await cache.forget_posts([post_id])


async def _resolve_mentions(conn: AsyncConnection, usernames: Sequence[str]) -> list[dict[str, str]]:
    """Mentions of existing users only, in the order written."""
    if not usernames:
        return []
    rows = await conn.execute(
        select(users.c.id, users.c.username, users.c.username_key).where(users.c.username_key.in_(usernames))
    )
    found = {r.username_key: r for r in rows}
    return [
        {"id": str(found[name].id), "username": found[name].username} for name in usernames if name in found
    ]


async def _require_visible_post(conn: AsyncConnection, post_id: int, field: str, *, viewer_id: int) -> None:
    """The post exists, is live, and the viewer may see it; else it is as unknown as a missing one.

    Without the visibility check a reply or quote would confirm that a private post exists, and a
    blocked account could still reply to its blocker.
    """

    def edge(table: Table, a: str, b: str, source: Any, target: Any) -> Any:
        return select(table.c[a]).where(table.c[a] == source, table.c[b] == target).exists()

    author = posts.c.author_id
    row = (
        await conn.execute(
            select(
                author,
                users.c.is_private,
                edge(follows, "follower_id", "followee_id", viewer_id, author).label("follows"),
                or_(
                    edge(blocks, "blocker_id", "blocked_id", viewer_id, author),
                    edge(blocks, "blocker_id", "blocked_id", author, viewer_id),
                ).label("blocked"),
            )
            .join(users, users.c.id == author)
            .where(posts.c.id == post_id, posts.c.deleted_at.is_(None), posts.c.repost_of_id.is_(None))
        )
    ).first()
    visible = row is not None and (
        row.author_id == viewer_id or (not row.blocked and (not row.is_private or row.follows))
    )
    if not visible:
        raise ValidationFailed(f"{field} does not name an existing post")


async def _bump_post_count(conn: AsyncConnection, user_id: int, delta: int) -> None:
    await conn.execute(
        update(users).where(users.c.id == user_id).values(post_count=users.c.post_count + delta)
    )


async def _bump(conn: AsyncConnection, post_id: int, column: Column[int], delta: int) -> None:
    await conn.execute(update(posts).where(posts.c.id == post_id).values({column: column + delta}))
