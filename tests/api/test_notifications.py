"""Notifications through the HTTP API: every type, grouping, unread count, read marks, suppression."""

from __future__ import annotations

from typing import Any

from tests.support import Api, User


async def _notes(api: Api, user: User, **params: Any) -> list[dict[str, Any]]:
    r = await api.client.get("/api/notifications", params=params, headers=user.headers)
    assert r.status_code == 200, r.text
    notes: list[dict[str, Any]] = r.json()["notifications"]
    return notes


async def _unread(api: Api, user: User) -> int:
    r = await api.client.get("/api/notifications/unread-count", headers=user.headers)
    assert r.status_code == 200, r.text
    count: int = r.json()["count"]
    return count


def _summary(notes: list[dict[str, Any]]) -> list[tuple[str, list[str], int, str | None]]:
    return [
        (n["type"], [a["username"] for a in n["actors"]], n["actorCount"], n["post"] and n["post"]["postId"])
        for n in notes
    ]


async def test_likes_of_one_post_are_grouped(api: Api) -> None:
    alice = await api.register("alice")
    fans = [await api.register(f"fan{i}") for i in range(6)]
    post = await api.post(alice, "group me")
    for fan in fans:
        await api.client.post(f"/api/posts/{post}/like", headers=fan.headers)
        await api.client.post(f"/api/posts/{post}/repost", headers=fan.headers)
    await api.settle()
    notes = await _notes(api, alice)
    newest_first = [f.username for f in reversed(fans)]
    assert _summary(notes) == [("repost", newest_first, 6, post), ("like", newest_first, 6, post)]
    assert all(n["read"] is False for n in notes)
    assert await _unread(api, alice) == 2
    # Undoing a like takes the actor out of the group; the last one takes the group away.
    await api.client.delete(f"/api/posts/{post}/like", headers=fans[5].headers)
    await api.settle()
    like = next(n for n in await _notes(api, alice) if n["type"] == "like")
    assert (like["actorCount"], like["actors"][0]["username"]) == (5, "fan4")
    for fan in fans[:5]:
        await api.client.delete(f"/api/posts/{post}/like", headers=fan.headers)
    await api.client.delete(f"/api/posts/{post}/repost", headers=fans[0].headers)
    await api.settle()
    assert _summary(await _notes(api, alice)) == [("repost", newest_first[:5], 5, post)]


async def test_every_type_is_notified_once(api: Api) -> None:
    alice, bob = await api.register("alice"), await api.register("bob")
    post = await api.post(alice, "hi")
    await api.follow(bob, alice)
    reply = await api.post(bob, "@alice reply", replyToId=post)
    quote = await api.post(bob, "quoting", quoteOfId=post)
    mention = await api.post(bob, "hey @alice")
    await api.settle()
    await api.settle()  # a second drain finds nothing new: handlers are idempotent
    assert _summary(await _notes(api, alice)) == [
        ("mention", ["bob"], 1, mention),
        ("quote", ["bob"], 1, quote),
        ("reply", ["bob"], 1, reply),
        ("follow", ["bob"], 1, None),
    ]
    assert await _notes(api, bob) == []


async def test_nobody_is_notified_of_their_own_actions(api: Api) -> None:
    alice = await api.register("alice")
    post = await api.post(alice, "me @alice")
    await api.client.post(f"/api/posts/{post}/like", headers=alice.headers)
    await api.client.post(f"/api/posts/{post}/repost", headers=alice.headers)
    await api.post(alice, "self reply", replyToId=post)
    await api.post(alice, "self quote", quoteOfId=post)
    await api.settle()
    assert await _notes(api, alice) == []
    assert await _unread(api, alice) == 0


async def test_blocked_and_muted_users_produce_none(api: Api) -> None:
    alice, bob, carol, dave = [await api.register(n) for n in ("alice", "bob", "carol", "dave")]
    post = await api.post(alice, "quiet please")
    await api.client.post(f"/api/users/{carol.id}/mute", headers=alice.headers)
    await api.client.post(f"/api/users/{dave.id}/block", headers=alice.headers)
    for user in (carol, bob):
        await api.client.post(f"/api/posts/{post}/like", headers=user.headers)
        await api.post(user, "@alice hello", replyToId=post)
    await api.follow(carol, alice)
    r = await api.client.post(f"/api/posts/{post}/like", headers=dave.headers)
    assert r.status_code == 404  # blocked: cannot even see it
    await api.post(dave, "@alice are you there")
    await api.settle()
    assert sorted(n["type"] for n in await _notes(api, alice)) == ["like", "reply"]
    assert {a["username"] for n in await _notes(api, alice) for a in n["actors"]} == {"bob"}
    # A block made after the fact hides what was already there.
    await api.client.post(f"/api/users/{bob.id}/block", headers=alice.headers)
    assert await _notes(api, alice) == []


async def test_deleting_a_post_removes_its_notifications(api: Api) -> None:
    alice, bob = await api.register("alice"), await api.register("bob")
    post = await api.post(alice, "short-lived")
    await api.client.post(f"/api/posts/{post}/like", headers=bob.headers)
    reply = await api.post(bob, "@alice bye", replyToId=post)
    await api.settle()
    assert len(await _notes(api, alice)) == 2
    await api.client.delete(f"/api/posts/{reply}", headers=bob.headers)
    await api.settle()
    assert [n["type"] for n in await _notes(api, alice)] == ["like"]
    await api.client.delete(f"/api/posts/{post}", headers=alice.headers)
    await api.settle()
    assert await _notes(api, alice) == []
    assert await _unread(api, alice) == 0


async def test_mark_read_up_to_an_id_and_pagination(api: Api) -> None:
    alice = await api.register("alice")
    others = [await api.register(f"u{i}") for i in range(5)]
    for other in others:
        await api.follow(other, alice)
    await api.settle()
    first = await _notes(api, alice, limit=2)
    r = await api.client.get("/api/notifications", params={"limit": 2}, headers=alice.headers)
    body = r.json()
    assert body["hasMore"] is True
    seen = [n["id"] for n in body["notifications"]]
    while body["hasMore"]:
        r = await api.client.get(
            "/api/notifications", params={"limit": 2, "cursor": body["nextCursor"]}, headers=alice.headers
        )
        body = r.json()
        seen += [n["id"] for n in body["notifications"]]
    assert len(seen) == len(set(seen)) == 5
    assert [n["actors"][0]["username"] for n in first] == ["u4", "u3"]
    assert await _unread(api, alice) == 5
    r = await api.client.post("/api/notifications/read", json={"upToId": seen[2]}, headers=alice.headers)
    assert r.status_code == 200
    assert r.json() == {"count": 3}
    assert await _unread(api, alice) == 2
    # Newest first: the three oldest (ids <= upToId) are read now.
    assert [n["read"] for n in await _notes(api, alice)] == [False, False, True, True, True]
    # A new like regroups on top, unread.
    post = await api.post(alice, "new")
    await api.client.post(f"/api/posts/{post}/like", headers=others[0].headers)
    await api.settle()
    notes = await _notes(api, alice)
    assert (notes[0]["type"], notes[0]["read"]) == ("like", False)
    assert await _unread(api, alice) == 3


async def test_notification_errors(api: Api) -> None:
    alice = await api.register("alice")
    assert (await api.client.get("/api/notifications")).status_code == 401
    assert (await api.client.get("/api/notifications/unread-count")).status_code == 401
    for body in ({"upToId": "abc"}, {}, {"upToId": 5}):
        r = await api.client.post("/api/notifications/read", json=body, headers=alice.headers)
        assert r.status_code == 400, body
        assert r.json()["error"]["code"] == "validation_failed"
    r = await api.client.get("/api/notifications", params={"cursor": "nope"}, headers=alice.headers)
    assert r.status_code == 400
