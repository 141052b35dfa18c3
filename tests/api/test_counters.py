"""Counters stay exact under concurrent likes and reposts, in SQL and with buffered Redis counters."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from roost.actions import engagement
from roost.adapters.redis.counters import RedisCounters
from roost.adapters.sql.tables import likes, posts
from roost.runtime import Runtime, utcnow
from roost.workers.counters import flush_counters
from tests.support import Api, User

CROWD = 50


async def _crowd(api: Api) -> list[User]:
    return [await api.register(f"fan{i}") for i in range(CROWD)]


async def _stored_counts(runtime: Runtime, post_id: str) -> tuple[int, int, int]:
    """like_count, repost_count columns and the number of like rows."""
    async with runtime.db.read() as conn:
        row = (
            await conn.execute(
                select(posts.c.like_count, posts.c.repost_count).where(posts.c.id == int(post_id))
            )
        ).one()
        rows = len((await conn.execute(select(likes.c.user_id).where(likes.c.post_id == int(post_id)))).all())
    return int(row.like_count), int(row.repost_count), rows


async def test_concurrent_likes_are_all_counted(api: Api) -> None:
    author = await api.register("author")
    fans = await _crowd(api)
    post = await api.post(author, "like storm")
    answers = await asyncio.gather(
        *(api.client.post(f"/api/posts/{post}/like", headers=fan.headers) for fan in fans)
    )
    assert all(r.status_code == 200 for r in answers)
    # Every answer saw its own like, so the counts are distinct and end at 50.
    assert sorted(r.json()["likeCount"] for r in answers)[-1] == CROWD
    r = await api.client.get(f"/api/posts/{post}")
    assert r.json()["likeCount"] == CROWD
    await api.settle()  # flushes buffered counters in the production profile
    assert await _stored_counts(api.runtime, post) == (CROWD, 0, CROWD)
    # The same users again (idempotent) and then all unliking at once.
    await asyncio.gather(*(api.client.post(f"/api/posts/{post}/like", headers=fan.headers) for fan in fans))
    assert (await api.client.get(f"/api/posts/{post}")).json()["likeCount"] == CROWD
    await asyncio.gather(*(api.client.delete(f"/api/posts/{post}/like", headers=fan.headers) for fan in fans))
    assert (await api.client.get(f"/api/posts/{post}")).json()["likeCount"] == 0
    await api.settle()
    assert await _stored_counts(api.runtime, post) == (0, 0, 0)


async def test_concurrent_reposts_make_one_row_each(api: Api) -> None:
    author = await api.register("author")
    fans = await _crowd(api)
    post = await api.post(author, "share storm")
    twice = [fan for fan in fans for _ in range(2)]
    answers = await asyncio.gather(
        *(api.client.post(f"/api/posts/{post}/repost", headers=fan.headers) for fan in twice)
    )
    assert all(r.status_code == 200 for r in answers)
    assert (await api.client.get(f"/api/posts/{post}")).json()["repostCount"] == CROWD
    async with api.runtime.db.read() as conn:
        rows = (
            await conn.execute(
                select(posts.c.id).where(posts.c.repost_of_id == int(post), posts.c.deleted_at.is_(None))
            )
        ).all()
    assert len(rows) == CROWD
    await asyncio.gather(
        *(api.client.delete(f"/api/posts/{post}/repost", headers=fan.headers) for fan in fans)
    )
    assert (await api.client.get(f"/api/posts/{post}")).json()["repostCount"] == 0


async def test_buffered_counters_are_live_and_exact_after_flush(api: Api, profile: str) -> None:
    """The production path: likes commit rows, deltas go to Redis, the flusher moves them to SQL."""
    runtime = api.runtime
    if profile != "production" or runtime.redis is None:
        pytest.skip("buffered counters exist only in the production profile (Redis)")
    counters = RedisCounters(runtime.redis, prefix=runtime.settings.redis_prefix)
    author = await api.register("author")
    fans = await _crowd(api)
    post = int(await api.post(author, "buffered"))

    async def like(fan: User) -> int:
        return await engagement.like_post(
            runtime.db, runtime.ids, user_id=int(fan.id), post_id=post, now=utcnow(), counters=counters
        )

    async def flusher() -> None:
        for _ in range(5):
            await flush_counters(runtime.db, counters)
            await asyncio.sleep(0)

    results = await asyncio.gather(*(like(fan) for fan in fans), flusher())
    live = [r for r in results if isinstance(r, int)]
    assert max(live) == CROWD
    pending = (await counters.pending([post])).get(post, {}).get("like", 0)
    stored, _, rows = await _stored_counts(runtime, str(post))
    assert (stored + pending, rows) == (CROWD, CROWD)
    await flush_counters(runtime.db, counters)
    assert await _stored_counts(runtime, str(post)) == (CROWD, 0, CROWD)
    assert await counters.pending([post]) == {}
    count = await engagement.unlike_post(
        runtime.db, runtime.ids, user_id=int(fans[0].id), post_id=post, counters=counters
    )
    assert count == CROWD - 1
