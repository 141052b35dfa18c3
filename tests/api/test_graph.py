"""The social graph: follow, unfollow, block, mute, and the follower / following lists."""

from __future__ import annotations

from typing import Any, Literal

import pytest

from tests.api.test_accounts import ISO_Z, assert_error, profile
from tests.support import Api, User

Direction = Literal["followers", "following"]


async def follow_list(
    api: Api, user: User, direction: Direction, *, limit: int = 100
) -> list[dict[str, Any]]:
    """Every entry of a follow list, following cursors to the end."""
    entries: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        r = await api.client.get(f"/api/users/{user.id}/{direction}", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["users"]) <= limit
        assert body["hasMore"] == (body["nextCursor"] is not None)
        entries.extend(body["users"])
        cursor = body["nextCursor"]
        if not body["hasMore"]:
            return entries


async def ids_of(api: Api, user: User, direction: Direction, *, limit: int = 100) -> list[str]:
    return [u["id"] for u in await follow_list(api, user, direction, limit=limit)]


async def test_follow_and_unfollow_are_idempotent(api: Api) -> None:
    alice, bob = await api.register("alice"), await api.register("bob")
    for _ in range(2):
        assert await api.follow(alice, bob) == {"following": True, "followeeId": bob.id}
    assert await ids_of(api, bob, "followers") == [alice.id]
    for _ in range(2):
        r = await api.client.delete(f"/api/users/{bob.id}/follow", headers=alice.headers)
        assert r.status_code == 200
        assert r.json() == {"following": False, "followeeId": bob.id}
    assert await ids_of(api, bob, "followers") == []
    assert (await profile(api, bob))["followerCount"] == 0


async def test_follow_needs_a_token(api: Api) -> None:
    bob = await api.register("bob")
    for method in ("POST", "DELETE"):
        r = await api.client.request(method, f"/api/users/{bob.id}/follow")
        assert r.status_code == 401
        assert_error(r.json(), "unauthorized")


async def test_self_follow_is_400(api: Api) -> None:
    alice = await api.register("alice")
    r = await api.client.post(f"/api/users/{alice.id}/follow", headers=alice.headers)
    assert r.status_code == 400
    assert_error(r.json(), "invalid_request")
    assert (await profile(api, alice))["followingCount"] == 0


@pytest.mark.parametrize("action", ["follow", "block", "mute"])
@pytest.mark.parametrize("method", ["POST", "DELETE"])
async def test_graph_actions_on_an_unknown_user_are_404(api: Api, action: str, method: str) -> None:
    alice = await api.register("alice")
    r = await api.client.request(
        method, f"/api/users/{api.runtime.ids.next_id()}/{action}", headers=alice.headers
    )
    assert r.status_code == 404
    assert_error(r.json(), "not_found")


@pytest.mark.parametrize("action", ["block", "mute"])
async def test_self_block_and_mute_are_400(api: Api, action: str) -> None:
    alice = await api.register("alice")
    r = await api.client.post(f"/api/users/{alice.id}/{action}", headers=alice.headers)
    assert r.status_code == 400
    assert_error(r.json(), "invalid_request")


async def test_follow_lists_newest_first_with_followed_at(api: Api) -> None:
    star = await api.register("star")
    fans = [await api.register(f"fan{i}") for i in range(7)]
    for fan in fans:
        await api.follow(fan, star)
        await api.follow(star, fan)
    entries = await follow_list(api, star, "followers")
    assert [e["id"] for e in entries] == [f.id for f in reversed(fans)]
    first = entries[0]
    assert set(first) == {"id", "username", "displayName", "avatarUrl", "isVerified", "followedAt"}
    assert first["username"] == "fan6"
    assert ISO_Z.match(first["followedAt"])
    assert [e["followedAt"] for e in entries] == sorted((e["followedAt"] for e in entries), reverse=True)
    assert await ids_of(api, star, "following") == [f.id for f in reversed(fans)]
    assert await ids_of(api, fans[0], "following") == [star.id]
    for limit in (1, 2, 3, 7):
        assert await ids_of(api, star, "followers", limit=limit) == [f.id for f in reversed(fans)]
        assert await ids_of(api, star, "following", limit=limit) == [f.id for f in reversed(fans)]


async def test_follow_list_pages_never_skip_or_repeat_while_the_graph_changes(api: Api) -> None:
    star = await api.register("star")
    fans = [await api.register(f"fan{i}") for i in range(6)]
    for fan in fans:
        await api.follow(fan, star)
    r = await api.client.get(f"/api/users/{star.id}/followers", params={"limit": 2})
    seen = [u["id"] for u in r.json()["users"]]
    cursor = r.json()["nextCursor"]
    late = await api.register("late")
    await api.follow(late, star)  # newer than the cursor: belongs to page one, not to later pages
    while cursor:
        r = await api.client.get(f"/api/users/{star.id}/followers", params={"limit": 2, "cursor": cursor})
        seen += [u["id"] for u in r.json()["users"]]
        cursor = r.json()["nextCursor"]
    assert seen == [f.id for f in reversed(fans)]


async def test_a_refollow_moves_to_the_top(api: Api) -> None:
    star, a, b = await api.register("star"), await api.register("a"), await api.register("b")
    await api.follow(a, star)
    await api.follow(b, star)
    await api.client.delete(f"/api/users/{star.id}/follow", headers=a.headers)
    await api.follow(a, star)
    assert await ids_of(api, star, "followers") == [a.id, b.id]


async def test_follow_lists_of_an_unknown_user_are_404(api: Api) -> None:
    for direction in ("followers", "following"):
        r = await api.client.get(f"/api/users/{api.runtime.ids.next_id()}/{direction}")
        assert r.status_code == 404
        assert_error(r.json(), "not_found")


async def test_block_removes_follows_both_ways_and_refuses_new_ones(api: Api) -> None:
    alice, bob = await api.register("alice"), await api.register("bob")
    await api.follow(alice, bob)
    await api.follow(bob, alice)
    r = await api.client.post(f"/api/users/{bob.id}/block", headers=alice.headers)
    assert r.status_code == 200
    assert r.json() == {"blocking": True}
    assert await ids_of(api, alice, "followers") == []
    assert await ids_of(api, alice, "following") == []
    assert await ids_of(api, bob, "followers") == []
    assert await ids_of(api, bob, "following") == []
    for follower, followee in ((alice, bob), (bob, alice)):
        r = await api.client.post(f"/api/users/{followee.id}/follow", headers=follower.headers)
        assert r.status_code == 403, r.text
        assert_error(r.json(), "forbidden")
    assert (await profile(api, bob))["followerCount"] == 0
    r = await api.client.delete(f"/api/users/{bob.id}/block", headers=alice.headers)
    assert r.status_code == 200
    assert r.json() == {"blocking": False}
    assert (await profile(api, bob, alice))["blocking"] is False
    # Unblocking restores nothing by itself, but following is possible again, both ways.
    assert await ids_of(api, bob, "followers") == []
    await api.follow(alice, bob)
    await api.follow(bob, alice)
    assert await ids_of(api, bob, "followers") == [alice.id]


async def test_blocked_users_posts_leave_the_feed_at_once(api: Api) -> None:
    alice, bob = await api.register("alice"), await api.register("bob")
    await api.follow(alice, bob)
    post_id = await api.post(bob, "hi")
    await api.settle()
    assert await api.feed_ids(alice) == [post_id]
    await api.client.post(f"/api/users/{alice.id}/block", headers=bob.headers)
    assert await api.feed_ids(alice) == []
    assert (await api.client.get(f"/api/posts/{post_id}", headers=alice.headers)).status_code == 404


async def test_mute_hides_posts_from_the_home_feed_at_once_and_unmute_restores(api: Api) -> None:
    alice, bob, carol = await api.register("alice"), await api.register("bob"), await api.register("carol")
    await api.follow(alice, bob)
    await api.follow(alice, carol)
    bobs = [await api.post(bob, f"bob {i}") for i in range(3)]
    carols = await api.post(carol, "carol")
    mine = await api.post(alice, "mine")
    await api.settle()
    everything = [mine, carols, *bobs[::-1]]
    assert await api.feed_ids(alice) == everything
    r = await api.client.post(f"/api/users/{bob.id}/mute", headers=alice.headers)
    assert r.status_code == 200
    assert r.json() == {"muting": True}
    assert await api.feed_ids(alice) == [mine, carols]  # no settle: filtered at read time
    assert await api.feed_ids(alice, limit=1) == [mine, carols]
    # Muting is private and one-way: alice still follows bob, and bob's own feed is untouched.
    assert (await profile(api, bob, alice))["following"] is True
    assert (await api.client.get(f"/api/posts/{bobs[0]}", headers=alice.headers)).status_code == 200
    assert await api.feed_ids(bob) == bobs[::-1]
    late = await api.post(bob, "while muted")
    await api.settle()
    assert await api.feed_ids(alice) == [mine, carols]
    r = await api.client.delete(f"/api/users/{bob.id}/mute", headers=alice.headers)
    assert r.status_code == 200
    assert r.json() == {"muting": False}
    assert await api.feed_ids(alice) == [late, *everything]
    await api.settle()
    assert await api.feed_ids(alice) == [late, *everything]


async def test_mute_and_unmute_are_idempotent(api: Api) -> None:
    alice, bob = await api.register("alice"), await api.register("bob")
    for method, muting in (("POST", True), ("POST", True), ("DELETE", False), ("DELETE", False)):
        r = await api.client.request(method, f"/api/users/{bob.id}/mute", headers=alice.headers)
        assert r.status_code == 200
        assert r.json() == {"muting": muting}
        assert (await profile(api, bob, alice))["muting"] is muting
