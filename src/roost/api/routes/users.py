"""Profiles and the social graph: follow, block, mute, follower lists."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter

from roost.actions import graph
from roost.api.deps import Cursor, Limit, MaybeViewer, RuntimeDep, Viewer, path_id
from roost.api.schemas import FollowAnswer
from roost.queries.posts import user_posts
from roost.queries.users import follow_list, profile_by_id, profile_by_username
from roost.runtime import utcnow
from roost.views import FeedPage, Profile, UserPage

router = APIRouter(prefix="/api/users", tags=["users"])


@router.get("/by-username/{username}", response_model=Profile, response_model_by_alias=True)
async def by_username(username: str, viewer: MaybeViewer, runtime: RuntimeDep) -> Profile:
    async with runtime.db.read() as conn:
        return await profile_by_username(conn, username, viewer_id=viewer)


@router.get("/{user_id}", response_model=Profile, response_model_by_alias=True)
async def profile(user_id: str, viewer: MaybeViewer, runtime: RuntimeDep) -> Profile:
    async with runtime.db.read() as conn:
        return await profile_by_id(conn, path_id(user_id, "userId"), viewer_id=viewer)


@router.get("/{user_id}/posts", response_model=FeedPage, response_model_by_alias=True)
async def posts_of(
    user_id: str, viewer: MaybeViewer, runtime: RuntimeDep, limit: Limit, cursor: Cursor = None
) -> FeedPage:
    async with runtime.db.read() as conn:
        return await user_posts(
            conn,
            path_id(user_id, "userId"),
            viewer_id=viewer,
            cursor=cursor,
            limit=limit,
            counters=runtime.counters,
            cache=runtime.feed.cache,
        )


async def _follow_page(
    runtime: RuntimeDep,
    user_id: str,
    direction: Literal["followers", "following"],
    viewer: int | None,
    cursor: str | None,
    limit: int,
) -> UserPage:
    async with runtime.db.read() as conn:
        users, next_cursor = await follow_list(
            conn,
            path_id(user_id, "userId"),
            viewer_id=viewer,
            direction=direction,
            cursor=cursor,
            limit=limit,
        )
    return UserPage(users=users, next_cursor=next_cursor, has_more=next_cursor is not None)


@router.get("/{user_id}/followers", response_model=UserPage, response_model_by_alias=True)
async def followers(
    user_id: str, viewer: MaybeViewer, runtime: RuntimeDep, limit: Limit, cursor: Cursor = None
) -> UserPage:
    return await _follow_page(runtime, user_id, "followers", viewer, cursor, limit)


@router.get("/{user_id}/following", response_model=UserPage, response_model_by_alias=True)
async def following(
    user_id: str, viewer: MaybeViewer, runtime: RuntimeDep, limit: Limit, cursor: Cursor = None
) -> UserPage:
    return await _follow_page(runtime, user_id, "following", viewer, cursor, limit)


@router.post(
    "/{user_id}/follow",
    response_model=FollowAnswer,
    response_model_by_alias=True,
    response_model_exclude_none=True,
)
async def follow(user_id: str, viewer: Viewer, runtime: RuntimeDep) -> FollowAnswer:
    target = path_id(user_id, "userId")
    outcome = await graph.follow(
        runtime.db, runtime.ids, runtime.settings, follower_id=viewer, followee_id=target, now=utcnow()
    )
    return FollowAnswer(
        following=outcome.following, followee_id=target, requested=True if outcome.requested else None
    )


@router.delete(
    "/{user_id}/follow",
    response_model=FollowAnswer,
    response_model_by_alias=True,
    response_model_exclude_none=True,
)
async def unfollow(user_id: str, viewer: Viewer, runtime: RuntimeDep) -> FollowAnswer:
    target = path_id(user_id, "userId")
    await graph.unfollow(runtime.db, runtime.ids, runtime.settings, follower_id=viewer, followee_id=target)
    return FollowAnswer(following=False, followee_id=target)


@router.post("/{user_id}/block")
async def block(user_id: str, viewer: Viewer, runtime: RuntimeDep) -> dict[str, bool]:
    target = path_id(user_id, "userId")
    await graph.block(
        runtime.db, runtime.ids, runtime.settings, blocker_id=viewer, blocked_id=target, now=utcnow()
    )
    return {"blocking": True}


@router.delete("/{user_id}/block")
async def unblock(user_id: str, viewer: Viewer, runtime: RuntimeDep) -> dict[str, bool]:
    await graph.unblock(runtime.db, runtime.ids, blocker_id=viewer, blocked_id=path_id(user_id, "userId"))
    return {"blocking": False}


@router.post("/{user_id}/mute")
async def mute(user_id: str, viewer: Viewer, runtime: RuntimeDep) -> dict[str, bool]:
    await graph.mute(
        runtime.db, runtime.ids, muter_id=viewer, muted_id=path_id(user_id, "userId"), now=utcnow()
    )
    return {"muting": True}


@router.delete("/{user_id}/mute")
async def unmute(user_id: str, viewer: Viewer, runtime: RuntimeDep) -> dict[str, bool]:
    await graph.unmute(runtime.db, runtime.ids, muter_id=viewer, muted_id=path_id(user_id, "userId"))
    return {"muting": False}
