"""Notifications whatever order the workers handle events in.

Workers handle the events of different users concurrently, so an event can be handled after a
later one. These tests replay recorded events (from the outbox) in a chosen order through the
notification handlers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from roost.adapters.sql.tables import notifications, outbox
from roost.ports import Event
from roost.workers import notifications as consumer
from roost.workers.dispatch import HANDLERS
from tests.api.test_notifications import _notes, _summary, _unread
from tests.support import Api


async def _events(api: Api, *topics: str) -> list[Event]:
    """The recorded events of these topics, oldest first."""
    async with api.runtime.db.read() as conn:
        query = select(outbox).where(outbox.c.topic.in_(topics)).order_by(outbox.c.id)
        rows = (await conn.execute(query)).all()
    return [Event(id=r.id, topic=r.topic, key=r.partition_key, payload=r.payload) for r in rows]


async def _forget_notifications(api: Api) -> None:
    async with api.runtime.db.transaction() as conn:
        await conn.execute(delete(notifications))


async def _handle(api: Api, events: Sequence[Event]) -> None:
    """Run the notification handlers of these events, in this order."""
    for event in events:
        for handler in HANDLERS.get(event.topic, ()):
            if handler.__module__ == consumer.__name__:
                await handler(api.runtime.workers, event)


async def _stored(api: Api) -> list[dict[str, Any]]:
    """Every stored notification but its id, by recipient and time."""
    async with api.runtime.db.read() as conn:
        rows = await conn.execute(select(notifications).order_by(notifications.c.user_id, notifications.c.id))
        found = [{k: v for k, v in row._mapping.items() if k != "id"} for row in rows]
    return sorted(found, key=lambda r: (r["user_id"], r["created_at"], r["type"]))


async def test_events_handled_in_reverse_leave_the_same_notifications_late_ones_on_top(api: Api) -> None:
    alice, bob, carol = await api.register("alice"), await api.register("bob"), await api.register("carol")
    fans = [await api.register(f"fan{i}") for i in range(4)]
    post = await api.post(alice, "group me")
    for fan in fans:
        await api.client.post(f"/api/posts/{post}/like", headers=fan.headers)
        await api.client.post(f"/api/posts/{post}/repost", headers=fan.headers)
        await api.follow(fan, alice)
    reply = await api.post(bob, "@alice and @carol, look", replyToId=post)  # one event, two recipients
    await api.settle()
    await api.client.delete(f"/api/posts/{post}/like", headers=fans[1].headers)  # leaves the group
    await api.settle()
    in_order = await _stored(api)
    notes = await _notes(api, alice)
    assert _summary(notes) == [
        ("reply", ["bob"], 1, reply),
        ("follow", ["fan3"], 1, None),
        ("repost", ["fan3", "fan2", "fan1", "fan0"], 4, post),
        ("like", ["fan3", "fan2", "fan0"], 3, post),
        ("follow", ["fan2"], 1, None),
        ("follow", ["fan1"], 1, None),
        ("follow", ["fan0"], 1, None),
    ]
    assert _summary(await _notes(api, carol)) == [("mention", ["bob"], 1, reply)]

    await _forget_notifications(api)
    await _handle(api, list(reversed(await _events(api, *HANDLERS))))
    # The same rows, times and order of a group's actors; but each event was handled after a
    # later one, so its notification went on top of those the recipient already had.
    assert await _stored(api) == in_order
    assert _summary(await _notes(api, alice)) == [
        ("like", ["fan3", "fan2", "fan0"], 3, post),
        ("repost", ["fan3", "fan2", "fan1", "fan0"], 4, post),
        ("follow", ["fan0"], 1, None),
        ("follow", ["fan1"], 1, None),
        ("follow", ["fan2"], 1, None),
        ("follow", ["fan3"], 1, None),
        ("reply", ["bob"], 1, reply),
    ]


async def test_a_late_notification_is_not_marked_read_unseen(api: Api) -> None:
    """alice sees her newest notification and marks read up to it; what was done before it but
    handled after it must still come to her attention, on top and unread."""
    alice = await api.register("alice")
    bob, carol, dave, erin = [await api.register(name) for name in ("bob", "carol", "dave", "erin")]
    post = await api.post(alice, "like me")
    await api.client.post(f"/api/posts/{post}/like", headers=bob.headers)
    await api.follow(carol, alice)
    await api.client.post(f"/api/posts/{post}/like", headers=dave.headers)
    await api.follow(erin, alice)
    await api.settle()
    bob_likes, dave_likes = await _events(api, "like.created")
    carol_follows, erin_follows = await _events(api, "follow.created")
    await _forget_notifications(api)

    async def read_up_to_newest() -> int:
        newest = (await _notes(api, alice))[0]["id"]
        r = await api.client.post("/api/notifications/read", json={"upToId": newest}, headers=alice.headers)
        assert r.status_code == 200, r.text
        count: int = r.json()["count"]
        return count

    await _handle(api, [carol_follows])
    seen = (await _notes(api, alice))[0]["id"]
    await _handle(api, [bob_likes])  # made before carol's follow, handled after alice looked
    r = await api.client.post("/api/notifications/read", json={"upToId": seen}, headers=alice.headers)
    assert r.json() == {"count": 1}
    assert await _unread(api, alice) == 1
    notes = await _notes(api, alice)
    assert [(n["type"], n["read"]) for n in notes] == [("like", False), ("follow", True)]

    await _handle(api, [erin_follows])
    assert await read_up_to_newest() == 2
    await _handle(api, [dave_likes])  # joins the group alice has read, late
    notes = await _notes(api, alice)
    assert [(n["type"], n["read"]) for n in notes] == [("like", False), ("follow", True), ("follow", True)]
    assert [a["username"] for a in notes[0]["actors"]] == ["dave", "bob"]
    assert await _unread(api, alice) == 1


async def test_a_late_actor_beyond_the_kept_ones_is_counted(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(consumer, "MAX_GROUP_ACTORS", 2)
    alice = await api.register("alice")
    fans = [await api.register(f"fan{i}") for i in range(3)]
    post = await api.post(alice, "like me")
    for fan in fans:
        await api.client.post(f"/api/posts/{post}/like", headers=fan.headers)
    await api.settle()
    likes = await _events(api, "like.created")
    await _forget_notifications(api)
    # The oldest like comes after both newer ones, which fill the group; a kept one comes again.
    await _handle(api, [likes[2], likes[1], likes[0], likes[1]])
    assert _summary(await _notes(api, alice)) == [("like", ["fan2", "fan1"], 3, post)]
    await api.client.delete(f"/api/posts/{post}/like", headers=fans[0].headers)
    await api.settle()
    assert _summary(await _notes(api, alice)) == [("like", ["fan2", "fan1"], 2, post)]
    await api.client.delete(f"/api/posts/{post}/like", headers=fans[2].headers)
    await api.settle()
    assert _summary(await _notes(api, alice)) == [("like", ["fan1"], 1, post)]


async def test_a_group_written_before_actor_marks_takes_new_actors_in_order(api: Api) -> None:
    alice = await api.register("alice")
    fans = [await api.register(f"fan{i}") for i in range(3)]
    post = await api.post(alice, "like me")
    for fan in fans[:2]:
        await api.client.post(f"/api/posts/{post}/like", headers=fan.headers)
    await api.settle()
    async with api.runtime.db.transaction() as conn:  # as revision 0003 left it
        await conn.execute(update(notifications).values(actor_marks=None))
    await api.client.post(f"/api/posts/{post}/like", headers=fans[2].headers)
    await api.client.delete(f"/api/posts/{post}/like", headers=fans[1].headers)
    await api.settle()
    assert _summary(await _notes(api, alice)) == [("like", ["fan2", "fan0"], 2, post)]


async def test_posts_mentioning_the_same_people_in_other_orders_are_handled_concurrently(
    api: Api, profile: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each handler locks its recipients; taken one by one in mention order, two posts mentioning
    x and y in opposite orders would deadlock on PostgreSQL (SQLite has a single writer)."""
    if profile != "production":
        pytest.skip("row locks are PostgreSQL's")
    x, y, bob, carol = [await api.register(name) for name in ("x", "y", "bob", "carol")]
    await api.post(bob, "@x and @y")
    await api.post(carol, "@y and @x")
    await api.settle()
    posts = [e for e in await _events(api, "post.created") if e.payload.get("notifies") is not False]
    await _forget_notifications(api)
    may_notify = consumer._may_notify

    async def slow_may_notify(*args: Any, **kwargs: Any) -> bool:
        await asyncio.sleep(0.1)  # lets the other handler take its first lock meanwhile
        return await may_notify(*args, **kwargs)

    monkeypatch.setattr(consumer, "_may_notify", slow_may_notify)
    await asyncio.wait_for(asyncio.gather(*(_handle(api, [post]) for post in posts)), timeout=30)
    expected = sorted(
        [
            ("mention", ["bob"], 1, str(posts[0].payload["postId"])),
            ("mention", ["carol"], 1, str(posts[1].payload["postId"])),
        ]
    )
    for user in (x, y):
        assert sorted(_summary(await _notes(api, user))) == expected


async def test_a_late_notification_stays_above_a_seen_one_that_is_gone(api: Api) -> None:
    """Deleting the notification alice saw newest must not let a late one slip below what she read."""
    alice, carol, dave = [await api.register(name) for name in ("alice", "carol", "dave")]
    first = await api.post(alice, "first")
    second = await api.post(alice, "second")
    await api.client.post(f"/api/posts/{first}/like", headers=dave.headers)
    await api.client.post(f"/api/posts/{second}/like", headers=carol.headers)
    await api.settle()
    dave_likes, carol_likes = await _events(api, "like.created")
    await _forget_notifications(api)
    await _handle(api, [carol_likes])
    seen = (await _notes(api, alice))[0]["id"]
    await api.client.delete(f"/api/posts/{second}/like", headers=carol.headers)
    await api.settle()  # carol's like group goes
    await _handle(api, [dave_likes])
    r = await api.client.post("/api/notifications/read", json={"upToId": seen}, headers=alice.headers)
    assert r.json() == {"count": 0}
    assert [(n["type"], n["read"]) for n in await _notes(api, alice)] == [("like", False)]
