"""The home feed's fast lane: plain `GET /api/feed` requests served without FastAPI's machinery.

The home feed is most of a feed server's traffic, and FastAPI's middleware, routing, dependency
solving and response plumbing cost about 0.4 ms per request, a fifth of a warm page. This ASGI app,
in front of FastAPI's middleware (`api.app.RoostApp`), answers a well-formed feed request (a bearer
token, a decimal `limit`, a short `cursor`) by calling the same query as the route, and renders
failures with the same error responses. Anything else, including every request FastAPI would
reject as invalid, goes on to the FastAPI route, which stays the documented contract: the two
cannot disagree on what an invalid request gets.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from roost.api.deps import DEFAULT_LIMIT, MAX_CURSOR, MAX_LIMIT, json_body, signed_in, viewer_of
from roost.api.errors import roost_error_response, unexpected_error_response
from roost.core.errors import RoostError
from roost.queries.feed import home_feed
from roost.runtime import Runtime, utcnow

PATH = "/api/feed"
_HEADERS = [(b"content-type", b"application/json")]


class FeedFastLane:
    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        query = _plain_query(scope["query_string"])
        if query is None:
            await self.app(scope, receive, send)
            return
        limit, cursor = query
        authorization = _header(scope, b"authorization")
        try:
            viewer = signed_in(await viewer_of(self.runtime, authorization))
            page = await home_feed(
                self.runtime.feed, viewer_id=viewer, cursor=cursor, limit=limit, now=utcnow()
            )
        except RoostError as exc:
            await roost_error_response(exc)(scope, receive, send)
            return
        except Exception as exc:  # in front of FastAPI's middleware: answered as its handler would
            await unexpected_error_response(exc)(scope, receive, send)
            return
        body = json_body(page)
        headers = [*_HEADERS, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _plain_query(raw: bytes) -> tuple[int, str | None] | None:
    """(limit, cursor) of a query string the route would accept, or None to leave it to the route."""
    limit, cursor = DEFAULT_LIMIT, None
    seen: set[str] = set()
    for name, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
        if name in seen:
            return None
        seen.add(name)
        if name == "limit":
            if not (value.isascii() and value.isdigit() and len(value) <= 9) or int(value) < 1:
                return None
            limit = min(int(value), MAX_LIMIT)
        elif name == "cursor":
            if len(value) > MAX_CURSOR:
                return None
            cursor = value
    return limit, cursor


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None
