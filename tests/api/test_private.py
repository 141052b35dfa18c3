"""Private accounts: follow requests, and the visibility matrix over every read path."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.support import Api, User


@dataclass
class World:
    owner: User  # private account
    follower: User  # approved follower
    requester: User  # pending request
    stranger: User  # follows the follower only
    post: str  # the owner's post
    public_post: str  # the stranger's post, replied to by the owner
    reply: str  # the owner's reply to it
    quote: str  # the follower's quote of the owner's post


async def _make_private(api: Api, user: User) -> None:
    r = await api.client.patch("/api/me", json={"isPrivate": True}, headers=user.headers)
    assert r.status_code == 200, r.text
    assert r.json()["isPrivate"] is True


async def _world(api: Api) -> World:
    owner, follower, requester, stranger = [
        await api.register(n) for n in ("owner", "follower", "requester", "stranger")
    ]
    await _make_private(api, owner)
    assert await api.follow(follower, owner) == {
        "following": False,
        "requested": True,
        "followeeId": owner.id,
    }
    r = await api.client.post(f"/api/follow-requests/{follower.id}/approve", headers=owner.headers)
    assert r.json() == {"followerId": follower.id, "approved": True}
    await api.follow(requester, owner)
    await api.follow(stranger, follower)
    public_post = await api.post(stranger, "anyone there?")
    post = await api.post(owner, "for friends only @stranger @follower")
    reply = await api.post(owner, "@stranger secret reply", replyToId=public_post)
    r = await api.client.post(f"/api/posts/{post}/repost", headers=follower.headers)
    assert r.status_code == 200, r.text
    quote = await api.post(follower, "look", quoteOfId=post)
    await api.settle()
    return World(owner, follower, requester, stranger, post, public_post, reply, quote)


def _viewers(w: World) -> list[tuple[str, User | None, bool]]:
    return [
        ("owner", w.owner, True),
        ("follower", w.follower, True),
        ("requester", w.requester, False),
        ("stranger", w.stranger, False),
        ("anonymous", None, False),
    ]


async def _get(api: Api, path: str, viewer: User | None, **params: Any) -> Any:
    return await api.client.get(path, params=params, headers=viewer.headers if viewer else None)


async def test_visibility_matrix(api: Api) -> None:
    w = await _world(api)
    for name, viewer, sees in _viewers(w):
        r = await _get(api, f"/api/posts/{w.post}", viewer)
        assert r.status_code == (200 if sees else 404), name
        r = await _get(api, f"/api/posts/{w.post}/replies", viewer)
        assert r.status_code == (200 if sees else 404), name
        r = await _get(api, f"/api/users/{w.owner.id}/posts", viewer)
        assert r.status_code == (200 if sees else 403), name
        if sees:
            assert w.post in [p["postId"] for p in r.json()["posts"]], name
        # The owner's reply under a public post.
        r = await _get(api, f"/api/posts/{w.public_post}/replies", viewer)
        assert r.status_code == 200
        assert [p["postId"] for p in r.json()["posts"]] == ([w.reply] if sees else []), name
        # The follower's repost of the owner's post, on the follower's profile.
        r = await _get(api, f"/api/users/{w.follower.id}/posts", viewer)
        reposted = [p["postId"] for p in r.json()["posts"] if p["repostedBy"]]
        assert reposted == ([w.post] if sees else []), name
        # The follower's quote is public; the quoted private post inside it is not.
        r = await _get(api, f"/api/posts/{w.quote}", viewer)
        assert r.status_code == 200, name
        quoted = r.json()["quoteOf"]
        assert (quoted is not None and quoted["postId"] == w.post) == sees, name


async def test_feeds_show_private_posts_to_approved_followers_only(api: Api) -> None:
    w = await _world(api)
    assert w.post in await api.feed_ids(w.follower)
    assert w.post in await api.feed_ids(w.owner)
    assert w.post not in await api.feed_ids(w.requester)
    # The stranger follows the follower, who reposted the post: still not shown.
    stranger_feed = await api.feed_ids(w.stranger)
    assert w.post not in stranger_feed
    assert w.quote in stranger_feed


@pytest.mark.parametrize("verb", ["like", "repost", "bookmark"])
async def test_outsiders_cannot_engage(api: Api, verb: str) -> None:
    w = await _world(api)
    for user in (w.requester, w.stranger):
        r = await api.client.post(f"/api/posts/{w.post}/{verb}", headers=user.headers)
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "not_found"
    r = await api.client.post(f"/api/posts/{w.post}/{verb}", headers=w.follower.headers)
    assert r.status_code == 200


async def test_notifications_respect_privacy(api: Api) -> None:
    w = await _world(api)
    r = await api.client.get("/api/notifications", headers=w.stranger.headers)
    # The stranger was mentioned and replied to by the private owner, but may not see either post.
    assert [n["type"] for n in r.json()["notifications"]] == []
    r = await api.client.get("/api/notifications", headers=w.follower.headers)
    assert [(n["type"], n["actors"][0]["username"]) for n in r.json()["notifications"]] == [
        ("mention", "owner"),
        ("follow", "stranger"),
    ]
    r = await api.client.get("/api/notifications", headers=w.owner.headers)
    types = [(n["type"], n["actors"][0]["username"]) for n in r.json()["notifications"]]
    assert types == [
        ("quote", "follower"),
        ("repost", "follower"),
        ("follow_request", "requester"),
        ("follow", "follower"),
    ]
    # Later, the owner leaves the follower: its notifications about the owner's posts go with the access.
    await api.client.post(f"/api/users/{w.follower.id}/block", headers=w.owner.headers)
    r = await api.client.get("/api/notifications", headers=w.follower.headers)
    assert [n["type"] for n in r.json()["notifications"]] == ["follow"]


async def test_requests_are_listed_approved_and_rejected(api: Api) -> None:
    owner, a, b = await api.register("owner"), await api.register("a"), await api.register("b")
    await _make_private(api, owner)
    await api.follow(a, owner)
    await api.follow(b, owner)
    await api.settle()
    r = await api.client.get("/api/follow-requests", params={"limit": 1}, headers=owner.headers)
    body = r.json()
    assert [u["username"] for u in body["users"]] == ["b"]
    assert body["hasMore"] is True
    r = await api.client.get(
        "/api/follow-requests", params={"cursor": body["nextCursor"]}, headers=owner.headers
    )
    assert [u["username"] for u in r.json()["users"]] == ["a"]
    r = await api.client.get(f"/api/users/{owner.id}", headers=a.headers)
    assert (r.json()["following"], r.json()["requested"]) == (False, True)

    r = await api.client.post(f"/api/follow-requests/{a.id}/reject", headers=owner.headers)
    assert r.json() == {"followerId": a.id, "approved": False}
    r = await api.client.post(f"/api/follow-requests/{b.id}/approve", headers=owner.headers)
    assert r.json() == {"followerId": b.id, "approved": True}
    for path in (f"/api/follow-requests/{a.id}/approve", f"/api/follow-requests/{b.id}/reject"):
        r = await api.client.post(path, headers=owner.headers)
        assert r.status_code == 404, path
    await api.settle()
    r = await api.client.get("/api/follow-requests", headers=owner.headers)
    assert r.json()["users"] == []
    r = await api.client.get(f"/api/users/{owner.id}", headers=a.headers)
    assert (r.json()["following"], r.json()["requested"]) == (False, False)
    r = await api.client.get(f"/api/users/{owner.id}", headers=b.headers)
    assert r.json()["following"] is True
    r = await api.client.get("/api/notifications", headers=owner.headers)
    assert [(n["type"], n["actors"][0]["username"]) for n in r.json()["notifications"]] == [("follow", "b")]
    post = await api.post(owner, "hello b")
    await api.settle()
    assert post in await api.feed_ids(b)
    assert post not in await api.feed_ids(a)

    r = await api.client.post("/api/follow-requests/x/approve", headers=owner.headers)
    assert r.status_code == 400
    assert (await api.client.get("/api/follow-requests")).status_code == 401


async def test_going_public_approves_pending_requests(api: Api) -> None:
    owner, fan = await api.register("owner"), await api.register("fan")
    await _make_private(api, owner)
    post = await api.post(owner, "was private")
    await api.follow(fan, owner)
    r = await api.client.get(f"/api/posts/{post}", headers=fan.headers)
    assert r.status_code == 404
    r = await api.client.patch("/api/me", json={"isPrivate": False}, headers=owner.headers)
    assert r.json()["followerCount"] == 1
    await api.settle()
    r = await api.client.get(f"/api/users/{owner.id}", headers=fan.headers)
    assert (r.json()["following"], r.json()["requested"]) == (True, False)
    assert post in await api.feed_ids(fan)
    r = await api.client.get("/api/follow-requests", headers=owner.headers)
    assert r.json()["users"] == []


async def test_connections_of_a_private_account_are_for_approved_followers(api: Api) -> None:
    w = await _world(api)
    for name, viewer, allowed in _viewers(w):
        headers = viewer.headers if viewer is not None else {}
        for direction in ("followers", "following"):
            r = await api.client.get(f"/api/users/{w.owner.id}/{direction}", headers=headers)
            assert r.status_code == (200 if allowed else 403), (name, direction, r.text)
            if allowed and direction == "followers":
                assert [u["id"] for u in r.json()["users"]] == [w.follower.id]
