"""Likes, reposts, bookmarks, replies and the bookmarks list."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from roost.actions import engagement
from roost.api.deps import Cursor, Limit, MaybeViewer, RuntimeDep, Viewer, path_id
from roost.queries.engagement import replies, user_bookmarks
from roost.runtime import utcnow
from roost.views import Id, PostPage

router = APIRouter(prefix="/api", tags=["engagement"])


class Answer(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    post_id: Id


class LikeAnswer(Answer):
    liked: bool
    like_count: int


class RepostAnswer(Answer):
    reposted: bool
    repost_count: int


class BookmarkAnswer(Answer):
    bookmarked: bool


@router.post("/posts/{post_id}/like", response_model=LikeAnswer, response_model_by_alias=True)
async def like(post_id: str, viewer: Viewer, runtime: RuntimeDep) -> LikeAnswer:
    pid = path_id(post_id, "postId")
    count = await engagement.like_post(
        runtime.db, runtime.ids, user_id=viewer, post_id=pid, now=utcnow(), counters=runtime.counters
    )
    return LikeAnswer(post_id=pid, liked=True, like_count=count)


@router.delete("/posts/{post_id}/like", response_model=LikeAnswer, response_model_by_alias=True)
async def unlike(post_id: str, viewer: Viewer, runtime: RuntimeDep) -> LikeAnswer:
    pid = path_id(post_id, "postId")
    count = await engagement.unlike_post(
        runtime.db, runtime.ids, user_id=viewer, post_id=pid, counters=runtime.counters
    )
    return LikeAnswer(post_id=pid, liked=False, like_count=count)


@router.post("/posts/{post_id}/repost", response_model=RepostAnswer, response_model_by_alias=True)
async def repost(post_id: str, viewer: Viewer, runtime: RuntimeDep) -> RepostAnswer:
    pid = path_id(post_id, "postId")
    count = await engagement.repost(
        runtime.db, runtime.ids, user_id=viewer, post_id=pid, now=utcnow(), counters=runtime.counters
    )
    return RepostAnswer(post_id=pid, reposted=True, repost_count=count)


@router.delete("/posts/{post_id}/repost", response_model=RepostAnswer, response_model_by_alias=True)
async def unrepost(post_id: str, viewer: Viewer, runtime: RuntimeDep) -> RepostAnswer:
    pid = path_id(post_id, "postId")
    count = await engagement.unrepost(
        runtime.db,
        runtime.ids,
        user_id=viewer,
        post_id=pid,
        now=utcnow(),
        counters=runtime.counters,
        cache=runtime.feed.cache,
    )
    return RepostAnswer(post_id=pid, reposted=False, repost_count=count)


@router.post("/posts/{post_id}/bookmark", response_model=BookmarkAnswer, response_model_by_alias=True)
async def bookmark(post_id: str, viewer: Viewer, runtime: RuntimeDep) -> BookmarkAnswer:
    pid = path_id(post_id, "postId")
    await engagement.bookmark(runtime.db, runtime.ids, user_id=viewer, post_id=pid, now=utcnow())
    return BookmarkAnswer(post_id=pid, bookmarked=True)


@router.delete("/posts/{post_id}/bookmark", response_model=BookmarkAnswer, response_model_by_alias=True)
async def unbookmark(post_id: str, viewer: Viewer, runtime: RuntimeDep) -> BookmarkAnswer:
    pid = path_id(post_id, "postId")
    await engagement.unbookmark(runtime.db, user_id=viewer, post_id=pid)
    return BookmarkAnswer(post_id=pid, bookmarked=False)


@router.get("/posts/{post_id}/replies", response_model=PostPage, response_model_by_alias=True)
async def replies_of(
    post_id: str, viewer: MaybeViewer, runtime: RuntimeDep, limit: Limit, cursor: Cursor = None
) -> PostPage:
    async with runtime.db.read() as conn:
        return await replies(
            conn,
            path_id(post_id, "postId"),
            viewer_id=viewer,
            cursor=cursor,
            limit=limit,
            counters=runtime.counters,
            cache=runtime.feed.cache,
        )


@router.get("/bookmarks", response_model=PostPage, response_model_by_alias=True)
async def bookmarks(viewer: Viewer, runtime: RuntimeDep, limit: Limit, cursor: Cursor = None) -> PostPage:
    async with runtime.db.read() as conn:
        return await user_bookmarks(
            conn, viewer, cursor=cursor, limit=limit, counters=runtime.counters, cache=runtime.feed.cache
        )
