"""Notifications: the list, the unread count, marking read."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import Field

from roost.actions.notifications import mark_read
from roost.api.deps import Cursor, Limit, RuntimeDep, Viewer
from roost.api.schemas import Body
from roost.core.errors import ValidationFailed
from roost.core.ids import parse_id
from roost.queries.notifications import NotificationPage, list_notifications, unread_count

router = APIRouter(prefix="/api/notifications", tags=["notifications"])


class ReadBody(Body):
    up_to_id: str = Field(max_length=30)


@router.get("", response_model=NotificationPage, response_model_by_alias=True)
async def notifications(
    viewer: Viewer, runtime: RuntimeDep, limit: Limit, cursor: Cursor = None
) -> NotificationPage:
    async with runtime.db.read() as conn:
        return await list_notifications(conn, viewer, cursor=cursor, limit=limit)


@router.get("/unread-count")
async def unread(viewer: Viewer, runtime: RuntimeDep) -> dict[str, int]:
    async with runtime.db.read() as conn:
        return {"count": await unread_count(conn, viewer)}


@router.post("/read")
async def read(body: ReadBody, viewer: Viewer, runtime: RuntimeDep) -> dict[str, int]:
    up_to = parse_id(body.up_to_id)
    if up_to is None:
        raise ValidationFailed("upToId must be a decimal id")
    return {"count": await mark_read(runtime.db, user_id=viewer, up_to_id=up_to)}
