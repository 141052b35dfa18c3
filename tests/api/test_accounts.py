"""Registration, login, the viewer's own profile, tokens, and public profiles with their counts."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import jwt
import pytest
from sqlalchemy import delete

from roost.adapters.sql.tables import users
from tests.support import Api, User

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
PROFILE_KEYS = {
    "id",
    "username",
    "displayName",
    "avatarUrl",
    "isVerified",
    "bio",
    "isPrivate",
    "followerCount",
    "followingCount",
    "postCount",
    "createdAt",
}


def assert_error(body: dict[str, Any], code: str) -> None:
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]


async def register_raw(api: Api, **body: Any) -> Any:
    return await api.client.post("/api/auth/register", json=body)


async def profile(api: Api, user: User, viewer: User | None = None) -> dict[str, Any]:
    r = await api.client.get(f"/api/users/{user.id}", headers=viewer.headers if viewer else None)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def counts(api: Api, user: User) -> tuple[int, int, int]:
    body = await profile(api, user)
    return body["followerCount"], body["followingCount"], body["postCount"]


# Registration


async def test_register_answers_profile_and_bearer_token(api: Api) -> None:
    r = await register_raw(
        api, username="Jane_Doe", password="correct horse", email="jane@example.com", displayName="Jane"
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {"user", "accessToken", "tokenType", "expiresIn"}
    assert body["tokenType"] == "Bearer"
    assert body["expiresIn"] == api.runtime.settings.access_token_ttl
    user = body["user"]
    assert set(user) >= PROFILE_KEYS
    assert user["id"].isdigit()
    assert user["username"] == "Jane_Doe"
    assert user["displayName"] == "Jane"
    assert user["email"] == "jane@example.com"
    assert (user["followerCount"], user["followingCount"], user["postCount"]) == (0, 0, 0)
    assert user["isPrivate"] is False
    assert user["isVerified"] is False
    assert user["bio"] == ""
    assert ISO_Z.match(user["createdAt"])
    me = await api.client.get("/api/me", headers={"Authorization": f"Bearer {body['accessToken']}"})
    assert me.status_code == 200
    assert me.json()["id"] == user["id"]


async def test_display_name_defaults_to_username(api: Api) -> None:
    r = await register_raw(api, username="bob", password="correct horse")
    assert r.status_code == 201
    assert r.json()["user"]["displayName"] == "bob"


@pytest.mark.parametrize("username", ["a", "Z", "_", "x" * 30, "A_b_9"])
async def test_usernames_within_the_rules_are_accepted(api: Api, username: str) -> None:
    r = await register_raw(api, username=username, password="correct horse")
    assert r.status_code == 201, r.text
    assert r.json()["user"]["username"] == username


@pytest.mark.parametrize(
    "username", ["", "x" * 31, "a-b", "a b", "café", "ab\n", "a.b", "@ab", "ａｂ", "a" * 200]
)
async def test_usernames_outside_the_rules_are_refused(api: Api, username: str) -> None:
    r = await register_raw(api, username=username, password="correct horse")
    assert r.status_code == 400, r.text
    assert_error(r.json(), "validation_failed")


async def test_usernames_are_unique_case_insensitively(api: Api) -> None:
    await api.register("Alice")
    for name in ("Alice", "alice", "ALICE"):
        r = await register_raw(api, username=name, password="other password")
        assert r.status_code == 409, r.text
        assert_error(r.json(), "username_taken")


@pytest.mark.parametrize(("length", "status"), [(7, 400), (8, 201), (128, 201), (129, 400)])
async def test_password_length(api: Api, length: int, status: int) -> None:
    r = await register_raw(api, username="pw", password="p" * length)
    assert r.status_code == status, r.text
    if status == 400:
        assert_error(r.json(), "validation_failed")


@pytest.mark.parametrize(("name", "status"), [("n" * 50, 201), ("😀" * 50, 201), ("n" * 51, 400)])
async def test_display_name_length(api: Api, name: str, status: int) -> None:
    r = await register_raw(api, username="dn", password="correct horse", displayName=name)
    assert r.status_code == status, r.text


async def test_a_refused_registration_creates_no_account(api: Api) -> None:
    r = await register_raw(api, username="carol", password="short")
    assert r.status_code == 400
    assert (await api.client.get("/api/users/by-username/carol")).status_code == 404
    await api.register("carol")


# Login


async def test_login_with_any_case_of_the_username(api: Api) -> None:
    alice = await api.register("Alice")
    for name in ("Alice", "alice"):
        r = await api.client.post("/api/auth/login", json={"username": name, "password": "correct horse"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["user"]["id"] == alice.id
        assert body["tokenType"] == "Bearer"
        me = await api.client.get("/api/me", headers={"Authorization": f"Bearer {body['accessToken']}"})
        assert me.json()["username"] == "Alice"


@pytest.mark.parametrize(
    ("username", "password"), [("alice", "wrong horse"), ("nobody", "correct horse"), ("alice", "")]
)
async def test_login_with_bad_credentials_is_401(api: Api, username: str, password: str) -> None:
    await api.register("alice")
    r = await api.client.post("/api/auth/login", json={"username": username, "password": password})
    assert r.status_code == 401
    assert_error(r.json(), "unauthorized")
    assert "accessToken" not in r.text


# The viewer's own profile


async def test_me_needs_a_token(api: Api) -> None:
    for method in ("GET", "PATCH"):
        r = await api.client.request(method, "/api/me", json={} if method == "PATCH" else None)
        assert r.status_code == 401
        assert_error(r.json(), "unauthorized")


async def test_me_includes_email_but_others_do_not_see_it(api: Api) -> None:
    jane = await api.register("jane", email="jane@example.com")
    bob = await api.register("bob")
    me = (await api.client.get("/api/me", headers=jane.headers)).json()
    assert me["email"] == "jane@example.com"
    assert "jane@example.com" not in (await api.client.get(f"/api/users/{jane.id}")).text
    assert "jane@example.com" not in (await api.client.get(f"/api/users/{jane.id}", headers=bob.headers)).text
    assert "jane@example.com" not in (await api.client.get("/api/users/by-username/jane")).text


async def test_patch_me_changes_the_public_profile(api: Api) -> None:
    jane = await api.register("jane")
    r = await api.client.patch(
        "/api/me", json={"displayName": "Jane D.", "bio": "b" * 160, "isPrivate": True}, headers=jane.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["displayName"] == "Jane D."
    assert r.json()["isPrivate"] is True
    public = await profile(api, jane)
    assert (public["displayName"], public["bio"], public["isPrivate"]) == ("Jane D.", "b" * 160, True)
    # Fields left out stay as they are.
    r = await api.client.patch("/api/me", json={"bio": "new"}, headers=jane.headers)
    assert (r.json()["displayName"], r.json()["bio"], r.json()["isPrivate"]) == ("Jane D.", "new", True)


@pytest.mark.parametrize(
    "body",
    [
        {"bio": "b" * 161},
        {"displayName": "d" * 51},
        {"isPrivate": "yes"},
        {"bio": 5},
        {"displayName": None, "bio": ["x"]},
    ],
)
async def test_patch_me_refuses_bad_fields_and_changes_nothing(api: Api, body: dict[str, Any]) -> None:
    jane = await api.register("jane", displayName="Jane")
    # A valid field sent along with the bad one is not applied either.
    r = await api.client.patch("/api/me", json={"isPrivate": True, **body}, headers=jane.headers)
    assert r.status_code == 400, r.text
    assert_error(r.json(), "validation_failed")
    public = await profile(api, jane)
    assert (public["displayName"], public["bio"], public["isPrivate"]) == ("Jane", "", False)


# Tokens


def _signed(api: Api, **claims: Any) -> str:
    secret = api.runtime.settings.resolved_secret_key()
    return jwt.encode(claims, secret, algorithm="HS256")


async def test_expired_token_is_401(api: Api) -> None:
    jane = await api.register("jane")
    past = int(time.time()) - 3600
    token = _signed(api, sub=jane.id, iat=past - 60, exp=past, typ="access")
    r = await api.client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    assert_error(r.json(), "unauthorized")


@pytest.mark.parametrize(
    "header",
    [
        "Bearer not-a-token",
        "Bearer " + jwt.encode({"sub": "1", "exp": 2**40, "typ": "access"}, "x" * 40, algorithm="HS256"),
        "Basic YWxpY2U6cGFzc3dvcmQ=",
        "Bearer",
        "Bearer ",
        "",
    ],
)
async def test_forged_or_malformed_authorization_is_401(api: Api, header: str) -> None:
    await api.register("jane")
    for method, path in (("GET", "/api/me"), ("POST", "/api/posts"), ("GET", "/api/feed")):
        r = await api.client.request(
            method,
            path,
            headers={"Authorization": header},
            json={"content": "x"} if method == "POST" else None,
        )
        assert r.status_code == 401, (path, r.text)
        assert_error(r.json(), "unauthorized")


async def test_a_bad_token_on_an_optional_endpoint_is_still_401(api: Api) -> None:
    jane = await api.register("jane")
    r = await api.client.get(f"/api/users/{jane.id}", headers={"Authorization": "Bearer forged"})
    assert r.status_code == 401


async def test_token_of_a_user_that_no_longer_exists_is_401(api: Api) -> None:
    ghost = await api.register("ghost")
    other = await api.register("other")
    async with api.runtime.db.transaction() as conn:
        await conn.execute(delete(users).where(users.c.id == int(ghost.id)))
    never = api.runtime.tokens.issue(api.runtime.ids.next_id())
    for token in (ghost.token, never):
        headers = {"Authorization": f"Bearer {token}"}
        for method, path, body in (
            ("GET", "/api/me", None),
            ("PATCH", "/api/me", {"bio": "x"}),
            ("POST", "/api/posts", {"content": "hello"}),
            ("GET", "/api/feed", None),
            ("POST", f"/api/users/{other.id}/follow", None),
            ("POST", f"/api/users/{other.id}/mute", None),
            ("POST", f"/api/users/{other.id}/block", None),
            ("GET", f"/api/users/{other.id}", None),
        ):
            r = await api.client.request(method, path, headers=headers, json=body)
            assert r.status_code == 401, (path, r.status_code, r.text)
            assert_error(r.json(), "unauthorized")


# Public profiles


async def test_profile_by_id_and_by_username_in_any_case(api: Api) -> None:
    jane = await api.register("JaneDoe", displayName="Jane")
    by_id = await profile(api, jane)
    assert set(by_id) >= PROFILE_KEYS
    for name in ("JaneDoe", "janedoe", "JANEDOE"):
        r = await api.client.get(f"/api/users/by-username/{name}")
        assert r.status_code == 200, r.text
        assert r.json()["id"] == jane.id
        assert r.json()["username"] == "JaneDoe"
    r = await api.client.get("/api/users/by-username/nobody")
    assert r.status_code == 404
    assert_error(r.json(), "not_found")


async def test_relationship_flags_follow_the_graph(api: Api) -> None:
    alice, bob = await api.register("alice"), await api.register("bob")

    async def flags() -> dict[str, bool]:
        body = await profile(api, bob, alice)
        return {k: body[k] for k in ("following", "followedBy", "requested", "blocking", "muting")}

    none = {"following": False, "followedBy": False, "requested": False, "blocking": False, "muting": False}
    assert await flags() == none
    await api.follow(alice, bob)
    assert await flags() == none | {"following": True}
    await api.follow(bob, alice)
    assert await flags() == none | {"following": True, "followedBy": True}
    assert (await api.client.post(f"/api/users/{bob.id}/mute", headers=alice.headers)).status_code == 200
    assert await flags() == none | {"following": True, "followedBy": True, "muting": True}
    assert (await api.client.post(f"/api/users/{bob.id}/block", headers=alice.headers)).status_code == 200
    assert await flags() == none | {"blocking": True, "muting": True}
    # The flags are the viewer's: bob sees he is blocked by no one he blocks, and follows nobody.
    own = await profile(api, alice, alice)
    assert {k: own[k] for k in none} == none
    seen_by_bob = await profile(api, alice, bob)
    assert (seen_by_bob["following"], seen_by_bob["blocking"], seen_by_bob["muting"]) == (False, False, False)


async def test_requested_flag_for_a_private_account(api: Api) -> None:
    alice, bob = await api.register("alice"), await api.register("bob")
    await api.client.patch("/api/me", json={"isPrivate": True}, headers=bob.headers)
    answer = await api.follow(alice, bob)
    assert answer == {"following": False, "requested": True, "followeeId": bob.id}
    body = await profile(api, bob, alice)
    assert (body["following"], body["requested"]) == (False, True)
    assert body["followerCount"] == 0
    await api.client.delete(f"/api/users/{bob.id}/follow", headers=alice.headers)
    assert (await profile(api, bob, alice))["requested"] is False


async def test_counts_stay_exact_through_follows_blocks_posts_and_deletes(api: Api) -> None:
    alice, bob, carol = await api.register("alice"), await api.register("bob"), await api.register("carol")
    for _ in range(2):  # idempotent repeats count once
        await api.follow(alice, bob)
        await api.follow(carol, bob)
        await api.follow(bob, alice)
    assert await counts(api, bob) == (2, 1, 0)
    assert await counts(api, alice) == (1, 1, 0)
    first, second = await api.post(bob, "one"), await api.post(bob, "two")
    assert await counts(api, bob) == (2, 1, 2)
    for _ in range(2):
        r = await api.client.delete(f"/api/users/{bob.id}/follow", headers=carol.headers)
        assert r.status_code == 200
    assert await counts(api, bob) == (1, 1, 2)
    assert await counts(api, carol) == (0, 0, 0)
    assert (await api.client.delete(f"/api/posts/{first}", headers=bob.headers)).status_code == 200
    assert (await api.client.delete(f"/api/posts/{first}", headers=bob.headers)).status_code == 404
    assert await counts(api, bob) == (1, 1, 1)
    for _ in range(2):
        r = await api.client.post(f"/api/users/{alice.id}/block", headers=bob.headers)
        assert r.status_code == 200
    assert await counts(api, bob) == (0, 0, 1)
    assert await counts(api, alice) == (0, 0, 0)
    await api.client.delete(f"/api/users/{alice.id}/block", headers=bob.headers)
    await api.follow(alice, bob)
    assert await counts(api, bob) == (1, 0, 1)
    await api.settle()
    assert await counts(api, bob) == (1, 0, 1)
    r = await api.client.get(f"/api/users/{bob.id}/posts")
    assert [p["postId"] for p in r.json()["posts"]] == [second]


async def test_concurrent_registrations_of_one_name_make_one_account(api: Api) -> None:
    names = ["race", "RACE", "Race", "race", "rAce", "racE"]
    answers = await asyncio.gather(*(register_raw(api, username=n, password="correct horse") for n in names))
    assert sorted(r.status_code for r in answers) == [201] + [409] * (len(names) - 1)
    for r in answers:
        if r.status_code == 409:
            assert_error(r.json(), "username_taken")


async def test_counts_stay_exact_under_concurrent_repeats(api: Api) -> None:
    alice, bob = await api.register("alice"), await api.register("bob")
    follow_path = f"/api/users/{bob.id}/follow"
    answers = await asyncio.gather(*(api.client.post(follow_path, headers=alice.headers) for _ in range(8)))
    assert {r.status_code for r in answers} == {200}
    assert await counts(api, bob) == (1, 0, 0)
    assert await counts(api, alice) == (0, 1, 0)
    answers = await asyncio.gather(*(api.client.delete(follow_path, headers=alice.headers) for _ in range(8)))
    assert {r.status_code for r in answers} == {200}
    assert await counts(api, bob) == (0, 0, 0)
    assert await counts(api, alice) == (0, 0, 0)
