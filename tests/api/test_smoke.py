"""The README's walk-through: register, post, follow, read the feed."""

from __future__ import annotations

from tests.support import Api


async def test_follow_then_see_posts_in_feed(api: Api) -> None:
    alice, bob = await api.register("alice"), await api.register("bob")
    await api.follow(alice, bob)
    post_id = await api.post(bob, "hello #world @alice")
    await api.settle()
    assert await api.feed_ids(alice) == [post_id]
    r = await api.client.get(f"/api/posts/{post_id}")
    assert r.status_code == 200
    body = r.json()
    assert body["hashtags"] == ["world"]
    assert body["mentions"] == [{"id": alice.id, "username": "alice"}]
