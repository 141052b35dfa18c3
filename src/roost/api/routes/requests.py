"""Follow requests to the viewer's private account: list, approve, reject."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from roost.actions.requests import approve_request, reject_request
from roost.api.deps import Cursor, Limit, RuntimeDep, Viewer, path_id
from roost.queries.engagement import SummaryPage, pending_requests
from roost.runtime import utcnow
from roost.views import Id

router = APIRouter(prefix="/api/follow-requests", tags=["users"])


class RequestAnswer(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    follower_id: Id
    approved: bool


@router.get("", response_model=SummaryPage, response_model_by_alias=True)
async def requests(viewer: Viewer, runtime: RuntimeDep, limit: Limit, cursor: Cursor = None) -> SummaryPage:
    async with runtime.db.read() as conn:
        return await pending_requests(conn, viewer, cursor=cursor, limit=limit)


@router.post("/{user_id}/approve", response_model=RequestAnswer, response_model_by_alias=True)
async def approve(user_id: str, viewer: Viewer, runtime: RuntimeDep) -> RequestAnswer:
    follower = path_id(user_id, "userId")
    await approve_request(
        runtime.db, runtime.ids, runtime.settings, owner_id=viewer, follower_id=follower, now=utcnow()
    )
    return RequestAnswer(follower_id=follower, approved=True)


@router.post("/{user_id}/reject", response_model=RequestAnswer, response_model_by_alias=True)
async def reject(user_id: str, viewer: Viewer, runtime: RuntimeDep) -> RequestAnswer:
    follower = path_id(user_id, "userId")
    await reject_request(runtime.db, runtime.ids, owner_id=viewer, follower_id=follower)
    return RequestAnswer(follower_id=follower, approved=False)
