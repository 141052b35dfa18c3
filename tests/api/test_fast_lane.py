"""The home feed's fast lane answers exactly what the documented FastAPI route answers."""

from __future__ import annotations

from typing import Any

import pytest

from roost.api import fast_lane
from roost.api.routes import feed as feed_route
from roost.core.security import Tokens
from tests.support import Api, User


@pytest.fixture
def route_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Each feed page the FastAPI route builds (the fast lane calls the query directly)."""
    calls: list[int] = []
    real = feed_route.home_feed  # type: ignore[attr-defined]

    async def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs["viewer_id"])
        return await real(*args, **kwargs)

    monkeypatch.setattr(feed_route, "home_feed", counted)
    return calls


async def _reader_with_feed(api: Api) -> User:
    reader, bob, carol = await api.register(), await api.register(), await api.register()
    await api.follow(reader, bob)
    await api.follow(reader, carol)
    for i in range(5):
        await api.post(bob, f"bob {i} #tag @{carol.username}")
        await api.post(carol, f"carol {i}")
    original = await api.post(await api.register(), "an original")
    r = await api.client.post(f"/api/posts/{original}/repost", headers=bob.headers)
    assert r.status_code in (200, 201), r.text
    r = await api.client.post(f"/api/posts/{original}/like", headers=reader.headers)
    assert r.status_code in (200, 201), r.text
    await api.settle()
    return reader


async def test_plain_requests_take_the_fast_lane_and_get_the_routes_pages(
    api: Api, route_calls: list[int]
) -> None:
    reader = await _reader_with_feed(api)
    cursor: str | None = None
    pages = 0
    while True:
        fast = {"limit": "4", **({"cursor": cursor} if cursor else {})}
        r = await api.client.get("/api/feed", params=fast, headers=reader.headers)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/json"
        assert route_calls == [], "a plain request went through FastAPI"
        # A repeated parameter is left to the route (it takes the last one): the same page.
        routed: list[tuple[str, str | int | float | bool | None]] = [("limit", "9"), *fast.items()]
        via_route = await api.client.get("/api/feed", params=routed, headers=reader.headers)
        assert route_calls == [int(reader.id)]
        route_calls.clear()
        assert via_route.status_code == 200, via_route.text
        assert r.json() == via_route.json()
        assert r.content == via_route.content
        pages += 1
        body = r.json()
        cursor = body["nextCursor"]
        if not body["hasMore"]:
            break
    assert pages == 3  # 11 items, 4 a page


async def test_default_and_clamped_limits(api: Api, route_calls: list[int]) -> None:
    reader, author = await api.register(), await api.register()
    await api.follow(reader, author)
    for i in range(101):
        await api.post(author, f"post {i}")
    await api.settle()
    for params, expected in (
        ({}, 20),
        ({"limit": "1000"}, 100),
        ({"limit": "100"}, 100),
        ({"limit": "7"}, 7),
    ):
        r = await api.client.get("/api/feed", params=params, headers=reader.headers)
        assert r.status_code == 200, r.text
        assert len(r.json()["posts"]) == expected, params
    assert route_calls == []


async def test_failures_have_the_routes_answers(api: Api, route_calls: list[int]) -> None:
    jane = await api.register()
    ghost = Tokens(api.runtime.settings.resolved_secret_key(), ttl_seconds=60).issue(
        api.runtime.ids.next_id()
    )
    cases: list[tuple[dict[str, str], dict[str, str], int, str]] = [
        ({}, {}, 401, "unauthorized"),
        ({"Authorization": "Basic abc"}, {}, 401, "unauthorized"),
        ({"Authorization": "Bearer not-a-token"}, {}, 401, "unauthorized"),
        ({"Authorization": f"Bearer {ghost}"}, {}, 401, "unauthorized"),
        (jane.headers, {"cursor": "garbage"}, 400, "invalid_request"),
    ]
    for headers, params, status, code in cases:
        fast = await api.client.get("/api/feed", params=params, headers=headers)
        routed = await api.client.get(
            "/api/feed", params=[*params.items(), ("x", "1"), ("x", "2")], headers=headers
        )
        assert fast.status_code == routed.status_code == status, (headers, params, fast.text)
        assert fast.json() == routed.json(), (headers, params)
        assert fast.json()["error"]["code"] == code
    assert len(route_calls) <= len(cases)  # the route ran for the routed ones that got that far


async def test_an_unexpected_failure_is_a_500_in_the_error_shape(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    jane = await api.register()

    async def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(fast_lane, "home_feed", broken)
    r = await api.client.get("/api/feed", headers=jane.headers)
    assert r.status_code == 500
    assert r.json() == {"error": {"code": "internal_error", "message": "something went wrong on our side"}}
