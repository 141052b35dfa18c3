"""Request-scoped dependencies: the runtime, the authenticated viewer, ids and page limits."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request, Response

from roost.core.errors import InvalidRequest, Unauthorized
from roost.core.ids import parse_id
from roost.queries.users import user_exists
from roost.runtime import Runtime
from roost.views import View

DEFAULT_LIMIT, MAX_LIMIT = 20, 100


# Dependencies are `async def` even when they never wait: FastAPI runs a plain `def` dependency in
# a worker thread, a hand-over per dependency per request that costs more than the work itself.


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def bearer_token(header: str | None) -> str | None:
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization header must be 'Bearer <accessToken>'")
    return token.strip()


async def optional_viewer(request: Request, runtime: RuntimeDep) -> int | None:
    """The viewer's id when a token is sent (and valid), None for anonymous requests."""
    return await viewer_of(runtime, request.headers.get("authorization"))


async def viewer_of(runtime: Runtime, authorization: str | None) -> int | None:
    """The account of an Authorization header: None without one, 401 for a bad or stale token."""
    token = bearer_token(authorization)
    if token is None:
        return None
    viewer = runtime.tokens.user_id(token)
    # A signature outlives its account (say, a database restored from an older backup): without
    # this check its token would write orphan rows. Accounts are never deleted, so once seen an
    # id stays valid, and hot paths skip the query.
    if viewer not in runtime.known_accounts:
        async with runtime.db.read() as conn:
            if not await user_exists(conn, viewer):
                raise Unauthorized("the account of this token no longer exists")
        runtime.known_accounts.add(viewer)
    return viewer


async def required_viewer(viewer: Annotated[int | None, Depends(optional_viewer)]) -> int:
    return signed_in(viewer)


def signed_in(viewer: int | None) -> int:
    """The viewer, or 401 for an anonymous request to a route that needs an account."""
    if viewer is None:
        raise Unauthorized("authentication required")
    return viewer


Viewer = Annotated[int, Depends(required_viewer)]
MaybeViewer = Annotated[int | None, Depends(optional_viewer)]


async def page_limit(
    limit: Annotated[int, Query(ge=1, description="page size, clamped to 100")] = DEFAULT_LIMIT,
) -> int:
    return min(limit, MAX_LIMIT)


Limit = Annotated[int, Depends(page_limit)]
MAX_CURSOR = 200
Cursor = Annotated[str | None, Query(max_length=MAX_CURSOR, description="opaque cursor from nextCursor")]


def json_response(view: View) -> Response:
    """Serialize a read model once, for hot paths: the route's response_model still documents it,
    but FastAPI's re-validation of the returned object (a few ms for a page of posts) is skipped."""
    return Response(json_body(view), media_type="application/json")


def json_body(view: View) -> bytes:
    return view.__pydantic_serializer__.to_json(view, by_alias=True)


def path_id(raw: str, what: str) -> int:
    """A path id, or 400 when it is not a decimal id."""
    value = parse_id(raw)
    if value is None:
        raise InvalidRequest(f"{what} must be a decimal id")
    return value
