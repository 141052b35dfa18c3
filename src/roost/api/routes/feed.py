"""The home timeline."""

from __future__ import annotations

from fastapi import APIRouter, Response

from roost.api.deps import Cursor, Limit, RuntimeDep, Viewer, json_response
from roost.queries.feed import home_feed
from roost.runtime import utcnow
from roost.views import FeedPage

router = APIRouter(prefix="/api/feed", tags=["feed"])


@router.get("", response_model=FeedPage, response_model_by_alias=True)
async def feed(viewer: Viewer, runtime: RuntimeDep, limit: Limit, cursor: Cursor = None) -> Response:
    page = await home_feed(runtime.feed, viewer_id=viewer, cursor=cursor, limit=limit, now=utcnow())
    return json_response(page)
