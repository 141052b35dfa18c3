"""Bad input of every kind answers 4xx in the `{"error": {code, message}}` shape, never a 500."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roost.core.cursor import encode_cursor
from roost.core.ids import MAX_ID
from tests.api.test_accounts import assert_error
from tests.support import PROFILES, Api, User, api_client, running

JSON = {"content-type": "application/json"}
BODY_ENDPOINTS = [
    ("POST", "/api/auth/register"),
    ("POST", "/api/auth/login"),
    ("POST", "/api/posts"),
    ("PATCH", "/api/me"),
]
BAD_IDS = ["abc", "-1", "0", "1.5", "1e5", "0x10", "9" * 20, str(MAX_ID + 1), "%20", "١٢", "%F0%9F%98%80"]


def id_paths(user_id: str, post_id: str) -> Iterator[tuple[str, str]]:
    """Every (method, path) that takes an id, with the id in place."""
    for suffix in ("", "/posts", "/followers", "/following"):
        yield "GET", f"/api/users/{user_id}{suffix}"
    for action in ("follow", "block", "mute"):
        yield "POST", f"/api/users/{user_id}/{action}"
        yield "DELETE", f"/api/users/{user_id}/{action}"
    yield "GET", f"/api/posts/{post_id}"
    yield "DELETE", f"/api/posts/{post_id}"


@pytest.mark.parametrize(("method", "path"), BODY_ENDPOINTS)
async def test_malformed_json_is_400(api: Api, method: str, path: str) -> None:
    jane = await api.register("jane")
    for raw in (b"{", b'{"username": }', b"not json", b'{"a": 1,}', b"\xff\xfe\x00", b"[" * 10_000):
        r = await api.client.request(method, path, content=raw, headers=JSON | jane.headers)
        assert r.status_code == 400, (raw, r.text)
        assert_error(r.json(), "invalid_request")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/auth/register", {"username": 5, "password": "correct horse"}),
        ("POST", "/api/auth/register", {"username": "ann", "password": None}),
        ("POST", "/api/auth/register", {"username": ["ann"], "password": "correct horse"}),
        ("POST", "/api/auth/register", {"username": "ann", "password": "correct horse", "email": 1}),
        ("POST", "/api/auth/login", {"username": "jane", "password": 12345678}),
        ("POST", "/api/posts", {"content": ["hi"]}),
        ("POST", "/api/posts", {"content": 280}),
        ("POST", "/api/posts", {"content": "hi", "replyToId": True}),
        ("POST", "/api/posts", {"content": "hi", "mediaIds": "1"}),
        ("PATCH", "/api/me", {"isPrivate": "true"}),
        ("PATCH", "/api/me", {"isPrivate": 1}),
        ("PATCH", "/api/me", {"displayName": {"first": "J"}}),
        ("POST", "/api/posts", {"content": "nul \u0000 inside"}),
        ("PATCH", "/api/me", {"bio": "\u0000"}),
        ("POST", "/api/auth/login", {"username": "\u0000", "password": "correct horse"}),
    ],
)
async def test_wrong_json_types_are_400(api: Api, method: str, path: str, body: dict[str, Any]) -> None:
    jane = await api.register("jane")
    r = await api.client.request(method, path, json=body, headers=jane.headers)
    assert r.status_code == 400, r.text
    assert_error(r.json(), "validation_failed")


@pytest.mark.parametrize(("method", "path"), BODY_ENDPOINTS)
async def test_a_body_that_is_not_an_object_is_400(api: Api, method: str, path: str) -> None:
    jane = await api.register("jane")
    for body in ([], [1, 2], "text", 42, None, True):
        r = await api.client.request(method, path, content=json.dumps(body), headers=JSON | jane.headers)
        assert r.status_code == 400, (body, r.text)
        assert_error(r.json(), "validation_failed")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/auth/register", {"username": "ann"}),
        ("/api/auth/register", {"password": "correct horse"}),
        ("/api/auth/login", {"username": "jane"}),
        ("/api/auth/login", {}),
        ("/api/posts", {}),
        ("/api/posts", None),
    ],
)
async def test_missing_fields_are_400(api: Api, path: str, body: dict[str, Any] | None) -> None:
    jane = await api.register("jane")
    r = await api.client.post(path, json=body, headers=jane.headers)
    assert r.status_code == 400, r.text
    assert_error(r.json(), "validation_failed")


@pytest.mark.parametrize("path", ["/api/nope", "/nope", "/api/users/1/nope", "/api/posts/1/nope/2", "/api"])
async def test_unknown_route_is_404(api: Api, path: str) -> None:
    r = await api.client.get(path)
    assert r.status_code == 404
    assert_error(r.json(), "not_found")


@pytest.mark.parametrize(
    ("method", "path"),
    [("PUT", "/api/posts"), ("DELETE", "/api/auth/register"), ("POST", "/api/me"), ("PATCH", "/api/users/1")],
)
async def test_wrong_method_is_405(api: Api, method: str, path: str) -> None:
    r = await api.client.request(method, path)
    assert r.status_code == 405
    assert_error(r.json(), "method_not_allowed")
    assert r.headers.get("allow")


async def test_non_numeric_and_out_of_range_ids_are_400(api: Api) -> None:
    jane = await api.register("jane")
    for bad in BAD_IDS:
        for method, path in id_paths(bad, bad):
            r = await api.client.request(method, path, headers=jane.headers)
            assert r.status_code == 400, (method, path, r.text)
            assert_error(r.json(), "invalid_request")


async def test_unknown_well_formed_ids_are_404(api: Api) -> None:
    jane = await api.register("jane")
    for unknown in (str(api.runtime.ids.next_id()), "1", str(MAX_ID)):
        for method, path in id_paths(unknown, unknown):
            r = await api.client.request(method, path, headers=jane.headers)
            assert r.status_code == 404, (method, path, r.text)
            assert_error(r.json(), "not_found")


async def _list_paths(api: Api, user: User) -> list[str]:
    return [f"/api/users/{user.id}/{kind}" for kind in ("posts", "followers", "following")] + ["/api/feed"]


async def test_bad_limits_are_400(api: Api) -> None:
    jane = await api.register("jane")
    for limit in ("0", "-1", "abc", "1.5", "", "1e2", "٣"):
        for path in await _list_paths(api, jane):
            r = await api.client.get(path, params={"limit": limit}, headers=jane.headers)
            assert r.status_code == 400, (path, limit, r.text)
            assert_error(r.json(), "validation_failed")


async def test_large_limits_are_clamped_to_100(api: Api) -> None:
    jane = await api.register("jane")
    for i in range(101):
        await api.post(jane, f"post {i}")
    for limit in ("1000", "101", str(10**30)):
        r = await api.client.get(f"/api/users/{jane.id}/posts", params={"limit": limit})
        assert r.status_code == 200, r.text
        assert len(r.json()["posts"]) == 100
        assert r.json()["hasMore"] is True
    r = await api.client.get(f"/api/users/{jane.id}/posts")
    assert len(r.json()["posts"]) == 20  # the default


async def test_cursors_of_another_list_or_garbage_are_400(api: Api) -> None:
    jane, bob, carol = await api.register("jane"), await api.register("bob"), await api.register("carol")
    for fan in (bob, carol):
        await api.follow(fan, jane)
        await api.post(jane, "post")
    r = await api.client.get(f"/api/users/{jane.id}/followers", params={"limit": 1})
    followers_cursor = r.json()["nextCursor"]
    r = await api.client.get(f"/api/users/{jane.id}/posts", params={"limit": 1})
    posts_cursor = r.json()["nextCursor"]
    assert followers_cursor
    assert posts_cursor
    misuses = [
        (f"/api/users/{jane.id}/posts", followers_cursor),
        (f"/api/users/{jane.id}/following", followers_cursor),
        (f"/api/users/{jane.id}/followers", posts_cursor),
        ("/api/feed", posts_cursor),
        (f"/api/users/{jane.id}/posts", encode_cursor("home", 5)),
    ]
    garbage = ["x", "!!!", "é", posts_cursor[:-2], posts_cursor + "AA", "a" * 201, "\u0000"]
    for path in await _list_paths(api, jane):
        misuses += [(path, g) for g in garbage]
    for path, cursor in misuses:
        r = await api.client.get(path, params={"cursor": cursor}, headers=jane.headers)
        assert r.status_code == 400, (path, cursor, r.text)
        assert r.json()["error"]["code"] in ("invalid_request", "validation_failed")


# Random input: whatever arrives, the answer is never a 500 and a 4xx always has the error shape.

FIELDS = [
    "username",
    "password",
    "email",
    "displayName",
    "bio",
    "isPrivate",
    "avatarMediaId",
    "content",
    "replyToId",
    "quoteOfId",
    "mediaIds",
    "mediaUrls",
]
# Lone surrogates are valid JSON escapes but not Unicode: they must be refused, not stored.
tricky_text = st.sampled_from(["\x00", "hi \x00", "jane", "JANE", "\ud800", "", " ", "😀" * 281, "1", "a@b"])
any_text = st.one_of(
    st.text(st.one_of(st.characters(), st.characters(categories=["Cs"])), max_size=40), tricky_text
)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), any_text, st.sampled_from(["1", "0"])
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(FIELDS) | any_text, inner, max_size=4)
    ),
    max_leaves=12,
)
# Mostly objects with the route's own fields and string values, so requests get past the first checks.
field_values = st.one_of(tricky_text, any_text, st.from_regex(r"[a-z]{1,8}", fullmatch=True), json_values)
# Per route: the fields always sent, then the optional ones.
ROUTE_FIELDS = {
    "/api/auth/register": (["username", "password"], ["email", "displayName"]),
    "/api/auth/login": (["username", "password"], []),
    "/api/posts": (["content"], ["replyToId", "quoteOfId", "mediaIds"]),
    "/api/me": ([], ["displayName", "bio", "isPrivate", "avatarMediaId"]),
}


def bodies_for(route: tuple[str, str]) -> st.SearchStrategy[tuple[tuple[str, str], bytes]]:
    required, optional = ROUTE_FIELDS[route[1]]
    objects = st.fixed_dictionaries(
        dict.fromkeys(required, field_values),
        optional=dict.fromkeys([*optional, "unknownField"], field_values),
    ).map(lambda d: json.dumps(d).encode())
    raw = st.one_of(
        objects, objects, objects, json_values.map(lambda v: json.dumps(v).encode()), st.binary(max_size=60)
    )
    return raw.map(lambda body: (route, body))


routed_bodies = st.sampled_from(BODY_ENDPOINTS).flatmap(bodies_for)
path_parts = st.one_of(
    st.sampled_from(["{user}", "{post}", "1", str(MAX_ID), str(MAX_ID + 1), "0"]),
    st.integers(min_value=-(10**25), max_value=10**25).map(str),
    any_text.map(lambda t: quote(t.encode("utf-8", "surrogatepass"), safe="")),
)
query_values = st.one_of(st.sampled_from(["{cursor}", "1", "100", "1000"]), any_text)
PATH_ROUTES = [
    ("GET", "/api/posts/{}"),
    ("DELETE", "/api/posts/{}"),
    ("GET", "/api/users/{}"),
    ("GET", "/api/users/by-username/{}"),
    ("GET", "/api/users/{}/posts"),
    ("GET", "/api/users/{}/followers"),
    ("GET", "/api/users/{}/following"),
    ("POST", "/api/users/{}/follow"),
    ("DELETE", "/api/users/{}/follow"),
    ("POST", "/api/users/{}/block"),
    ("DELETE", "/api/users/{}/mute"),
    ("GET", "/api/feed"),
    ("GET", "/api/me"),
]
FUZZ = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


class FuzzSession:
    """A runtime and client on their own event loop, so synchronous Hypothesis tests can drive them."""

    def __init__(self, profile: str, tmp_path: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self._stack = AsyncExitStack()
        self.api, self.jane, self.known = self.loop.run_until_complete(self._setup(profile, tmp_path))

    async def _setup(self, profile: str, tmp_path: Path) -> tuple[Api, User, dict[str, str]]:
        runtime = await self._stack.enter_async_context(running(profile, tmp_path))
        api = await self._stack.enter_async_context(api_client(runtime))
        jane, bob = await api.register("jane"), await api.register("bob")
        post_id = await api.post(jane, "hello #world @bob")
        await api.follow(bob, jane)
        cursor = encode_cursor("user-posts", int(post_id))
        return api, jane, {"{user}": jane.id, "{post}": post_id, "{cursor}": cursor}

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        r = self.loop.run_until_complete(self.api.client.request(method, path, **kwargs))
        assert r.status_code < 500, (method, path, kwargs, r.text)
        if 400 <= r.status_code < 500:
            error = r.json()["error"]
            assert isinstance(error["code"], str), r.text
            assert isinstance(error["message"], str), r.text
        return r

    def close(self) -> None:
        self.loop.run_until_complete(self._stack.aclose())
        self.loop.close()


@pytest.fixture(params=PROFILES)
def fuzz(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FuzzSession]:
    session = FuzzSession(str(request.param), tmp_path)
    try:
        yield session
    finally:
        session.close()


def test_random_bodies_never_cause_a_500(fuzz: FuzzSession) -> None:
    @FUZZ
    @given(routed=routed_bodies)
    def check(routed: tuple[tuple[str, str], bytes]) -> None:
        (method, path), body = routed
        fuzz.request(method, path, content=body, headers=JSON | fuzz.jane.headers)

    check()


def test_random_paths_and_queries_never_cause_a_500(fuzz: FuzzSession) -> None:
    @FUZZ
    @given(
        route=st.sampled_from(PATH_ROUTES),
        part=path_parts,
        cursor=st.none() | query_values,
        limit=st.none() | query_values,
        auth=st.sampled_from(["jane", "jane", "none", "garbage"]),
    )
    def check(route: tuple[str, str], part: str, cursor: str | None, limit: str | None, auth: str) -> None:
        method, template = route
        path = template.replace("{}", fuzz.known.get(part, part))
        params = {k: fuzz.known.get(v, v) for k, v in (("cursor", cursor), ("limit", limit)) if v is not None}
        headers = {"jane": fuzz.jane.headers, "none": {}, "garbage": {"Authorization": "Bearer garbage"}}[
            auth
        ]
        encoded = {k: v.encode("utf-8", "surrogatepass") for k, v in params.items()}
        fuzz.request(method, path, params=encoded, headers=headers)

    check()
