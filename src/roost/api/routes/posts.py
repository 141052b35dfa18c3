"""Posts: create, read, delete."""

from __future__ import annotations

from fastapi import APIRouter

from roost.actions import posts as post_actions
from roost.api.deps import MaybeViewer, RuntimeDep, Viewer, path_id
from roost.api.schemas import DeletedAnswer, PostBody
from roost.core.errors import ValidationFailed
from roost.core.ids import parse_id
from roost.queries.posts import get_post, new_post
from roost.runtime import utcnow
from roost.views import Post

router = APIRouter(prefix="/api/posts", tags=["posts"])


def _body_id(raw: str | None, field: str) -> int | None:
    if raw is None:
        return None
    value = parse_id(raw)
    if value is None:
        raise ValidationFailed(f"{field} must be a decimal id")
    return value


@router.post("", status_code=201, response_model=Post, response_model_by_alias=True)
async def create_post(body: PostBody, viewer: Viewer, runtime: RuntimeDep) -> Post:
    if body.media_ids or body.media_urls:
        raise ValidationFailed("media attachments are not supported by this server yet")
    written = await post_actions.write_post(
        runtime.db,
        runtime.ids,
        author_id=viewer,
        content=body.content,
        reply_to_id=_body_id(body.reply_to_id, "replyToId"),
        quote_of_id=_body_id(body.quote_of_id, "quoteOfId"),
        now=utcnow(),
        cache=runtime.feed.cache,
    )
    answer = new_post(written)  # built from what the write stored and returned
    if answer is not None:
        return answer
    async with runtime.db.read() as conn:
        return await get_post(
            conn, written.post_id, viewer_id=viewer, counters=runtime.counters, cache=runtime.feed.cache
        )


@router.get("/{post_id}", response_model=Post, response_model_by_alias=True)
async def read_post(post_id: str, viewer: MaybeViewer, runtime: RuntimeDep) -> Post:
    async with runtime.db.read() as conn:
        return await get_post(
            conn,
            path_id(post_id, "postId"),
            viewer_id=viewer,
            counters=runtime.counters,
            cache=runtime.feed.cache,
        )


@router.delete("/{post_id}", response_model=DeletedAnswer, response_model_by_alias=True)
async def delete_post(post_id: str, viewer: Viewer, runtime: RuntimeDep) -> DeletedAnswer:
    pid = path_id(post_id, "postId")
    await post_actions.delete_post(
        runtime.db, runtime.ids, user_id=viewer, post_id=pid, now=utcnow(), cache=runtime.feed.cache
    )
    return DeletedAnswer(post_id=pid)
