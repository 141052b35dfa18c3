"""Profiles and follower / following lists."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.adapters.sql.tables import blocks, follow_requests, follows, mutes, users
from roost.core.cursor import decode_cursor, encode_cursor
from roost.core.errors import Forbidden, NotFound
from roost.core.text import is_valid_username
from roost.views import FollowUser, Profile, Relationship


def _profile_query() -> Select[Any]:
    return select(
        users.c.id,
        users.c.username,
        users.c.display_name,
        users.c.avatar_url,
        users.c.is_verified,
        users.c.bio,
        users.c.is_private,
        users.c.follower_count,
        users.c.following_count,
        users.c.post_count,
        users.c.created_at,
        users.c.email,
    )


async def user_exists(conn: AsyncConnection, user_id: int) -> bool:
    return await conn.scalar(select(users.c.id).where(users.c.id == user_id)) is not None


async def profile_by_id(
    conn: AsyncConnection, user_id: int, *, viewer_id: int | None, include_email: bool = False
) -> Profile:
    row = (await conn.execute(_profile_query().where(users.c.id == user_id))).first()
    if row is None:
        raise NotFound("user not found")
    return await _profile(conn, row, viewer_id, include_email=include_email)


async def profile_by_username(conn: AsyncConnection, username: str, *, viewer_id: int | None) -> Profile:
    if not is_valid_username(username):
        raise NotFound("user not found")  # and no query: PostgreSQL refuses some strings (NUL) outright
    row = (await conn.execute(_profile_query().where(users.c.username_key == username.lower()))).first()
    if row is None:
        raise NotFound("user not found")
    return await _profile(conn, row, viewer_id, include_email=False)


async def relationship(conn: AsyncConnection, viewer_id: int, other_id: int) -> Relationship:
    def edge(a: Any, b: Any, *, source: int, target: int) -> Any:
        return select(a).where(a == source, b == target).exists()

    row = (
        await conn.execute(
            select(
                edge(follows.c.follower_id, follows.c.followee_id, source=viewer_id, target=other_id),
                edge(follows.c.follower_id, follows.c.followee_id, source=other_id, target=viewer_id),
                edge(
                    follow_requests.c.follower_id,
                    follow_requests.c.followee_id,
                    source=viewer_id,
                    target=other_id,
                ),
                edge(blocks.c.blocker_id, blocks.c.blocked_id, source=viewer_id, target=other_id),
                edge(mutes.c.muter_id, mutes.c.muted_id, source=viewer_id, target=other_id),
            )
        )
    ).one()
    following, followed_by, requested, blocking, muting = (bool(v) for v in row)
    return Relationship(
        following=following, followed_by=followed_by, requested=requested, blocking=blocking, muting=muting
    )


async def _profile(conn: AsyncConnection, row: Any, viewer_id: int | None, *, include_email: bool) -> Profile:
    fields: dict[str, Any] = {
        "id": row.id,
        "username": row.username,
        "display_name": row.display_name,
        "avatar_url": row.avatar_url,
        "is_verified": row.is_verified,
        "bio": row.bio,
        "is_private": row.is_private,
        "follower_count": row.follower_count,
        "following_count": row.following_count,
        "post_count": row.post_count,
        "created_at": row.created_at,
    }
    if include_email:
        fields["email"] = row.email
    if viewer_id is not None:
        # With a token the flags are always booleans; towards oneself they are all false.
        own = viewer_id == row.id
        fields.update(dict(Relationship() if own else await relationship(conn, viewer_id, row.id)))
    return Profile(**fields)


async def follow_list(
    conn: AsyncConnection,
    user_id: int,
    *,
    viewer_id: int | None,
    direction: str,
    cursor: str | None,
    limit: int,
) -> tuple[list[FollowUser], str | None]:
    """Followers (direction "followers") or followees ("following") of a user, newest follow first.

    A private account's lists are shown only to itself and its approved followers.
    """
    is_private = await conn.scalar(select(users.c.is_private).where(users.c.id == user_id))
    if is_private is None:
        raise NotFound("user not found")
    if is_private and viewer_id != user_id:
        approved = viewer_id is not None and await conn.scalar(
            select(follows.c.id).where(follows.c.follower_id == viewer_id, follows.c.followee_id == user_id)
        )
        if not approved:
            raise Forbidden("this account's connections are visible to its approved followers only")
    mine, other = (
        (follows.c.followee_id, follows.c.follower_id)
        if direction == "followers"
        else (follows.c.follower_id, follows.c.followee_id)
    )
    query = (
        select(
            users.c.id,
            users.c.username,
            users.c.display_name,
            users.c.avatar_url,
            users.c.is_verified,
            follows.c.id.label("edge_id"),
            follows.c.created_at,
        )
        .join(users, users.c.id == other)
        .where(mine == user_id)
        .order_by(follows.c.id.desc())
        .limit(limit + 1)
    )
    if cursor:
        query = query.where(follows.c.id < decode_cursor(cursor, direction)[0])
    rows = (await conn.execute(query)).all()
    page = [
        FollowUser(
            id=r.id,
            username=r.username,
            display_name=r.display_name,
            avatar_url=r.avatar_url,
            is_verified=r.is_verified,
            followed_at=r.created_at,
        )
        for r in rows[:limit]
    ]
    next_cursor = encode_cursor(direction, rows[limit - 1].edge_id) if len(rows) > limit else None
    return page, next_cursor
