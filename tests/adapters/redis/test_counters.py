"""Buffered counters on a real Redis, flushed into a real (SQLite) posts table."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis.asyncio
from sqlalchemy import select

from roost.adapters.redis.counters import RedisCounters, shard_of
from roost.adapters.sql.database import Database
from roost.adapters.sql.tables import counter_flushes, metadata, posts, users
from roost.workers.counters import flush_counters, flush_shard

POSTS = [101, 202, 303, 404]


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'counters.db'}")
    now = datetime.now(UTC)
    async with database.transaction() as conn:
        await conn.run_sync(metadata.create_all)
        await conn.execute(
            users.insert().values(
                id=1, username="a", username_key="a", password_hash="x", last_active_at=now, created_at=now
            )
        )
        for post_id in POSTS:
            await conn.execute(
                posts.insert().values(
                    id=post_id, author_id=1, content="c", hashtags=[], mentions=[], media=[], created_at=now
                )
            )
    yield database
    await database.dispose()


@pytest.fixture
def counters(client: redis.asyncio.Redis, prefix: str) -> RedisCounters:
    return RedisCounters(client, prefix=prefix, shards=4)


async def _stored(db: Database, post_id: int) -> tuple[int, int]:
    async with db.read() as conn:
        row = (
            await conn.execute(select(posts.c.like_count, posts.c.repost_count).where(posts.c.id == post_id))
        ).one()
    return int(row.like_count), int(row.repost_count)


async def _live(db: Database, counters: RedisCounters, post_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """What hydration shows: column + unflushed delta."""
    deltas = await counters.pending(post_ids)
    result = {}
    for post_id in post_ids:
        likes, reposts = await _stored(db, post_id)
        d = deltas.get(post_id, {})
        result[post_id] = (likes + d.get("like", 0), reposts + d.get("repost", 0))
    return result


async def test_a_read_of_many_posts_answers_for_each_post_with_deltas(counters: RedisCounters) -> None:
    # Posts of every shard, some with deltas pending, some in flight, some with both or none.
    expected: dict[int, dict[str, int]] = {}
    for post_id in range(1000, 1040):
        if post_id % 3 == 0:
            await counters.add(post_id, "like", post_id % 7 + 1)
            expected[post_id] = {"like": post_id % 7 + 1}
    for shard in range(counters.shards):
        await counters.take(shard, limit=100)  # now in flight
    for post_id in range(1000, 1040):
        if post_id % 4 == 0:
            await counters.add(post_id, "repost", 1)
            expected.setdefault(post_id, {})["repost"] = 1
    await counters.add(1001, "like", 1)
    await counters.add(1001, "like", -1)  # nets to nothing
    assert await counters.pending(list(range(1039, 999, -1))) == expected


async def test_deltas_show_live_and_flush_exactly(db: Database, counters: RedisCounters) -> None:
    assert await counters.add(101, "like", 1) == 1
    assert await counters.add(101, "like", 1) == 2
    assert await counters.add(101, "repost", 1) == 1
    assert await counters.add(202, "like", -1) == -1
    assert await counters.pending([101, 202, 303]) == {101: {"like": 2, "repost": 1}, 202: {"like": -1}}
    assert await flush_counters(db, counters) == 2
    assert await _stored(db, 101) == (2, 1)
    assert await _stored(db, 202) == (-1, 0)
    assert await counters.pending(POSTS) == {}
    assert await flush_counters(db, counters) == 0
    assert await counters.add(101, "like", 1) == 1
    assert (await _live(db, counters, [101]))[101] == (3, 1)


async def test_a_flush_round_visits_only_shards_with_deltas_pending_or_in_flight(
    db: Database, counters: RedisCounters
) -> None:
    assert await counters.busy_shards() == []
    await counters.add(101, "like", 1)
    await counters.add(303, "repost", 1)
    pending = sorted({shard_of(101) % counters.shards, shard_of(303) % counters.shards})
    assert await counters.busy_shards() == pending
    shard = shard_of(101) % counters.shards
    async with counters.flushing(shard):
        await counters.take(shard, limit=100)  # in flight, as if its flusher died before `done`
    assert await counters.busy_shards() == pending
    assert await flush_counters(db, counters) == 2
    assert await counters.busy_shards() == []
    assert await _stored(db, 101) == (1, 0)
    assert await _stored(db, 303) == (0, 1)


async def test_adds_during_a_flush_are_neither_lost_nor_doubled(
    db: Database, counters: RedisCounters
) -> None:
    await counters.add(101, "like", 5)
    shard = shard_of(101) % counters.shards
    async with counters.flushing(shard) as locked:
        assert locked
        taken = await counters.take(shard, limit=100)
        assert taken.deltas[101] == {"like": 5}
        # A like arriving while the batch is in flight: reads count both.
        assert await counters.add(101, "like", 1) == 6
        assert (await _live(db, counters, [101]))[101] == (6, 0)
        # A second flusher keeps off the shard meanwhile.
        assert await flush_shard(db, counters, shard) == 0
        async with db.transaction() as conn:
            await conn.execute(
                posts.update().where(posts.c.id == 101).values(like_count=posts.c.like_count + 5)
            )
        await counters.done(shard, [101])
    assert (await _live(db, counters, [101]))[101] == (6, 0)
    await flush_counters(db, counters)
    assert await _stored(db, 101) == (6, 0)


async def test_a_batch_applied_before_a_crash_is_not_applied_again(
    db: Database, counters: RedisCounters
) -> None:
    await counters.add(404, "like", 3)
    shard = shard_of(404) % counters.shards
    async with counters.flushing(shard) as locked:
        assert locked
        taken = await counters.take(shard, limit=100)
        # The flusher commits the batch, then dies before clearing it from Redis.
        async with db.transaction() as conn:
            await conn.execute(
                counter_flushes.insert().values(token=taken.token, applied_at=datetime.now(UTC))
            )
            await conn.execute(
                posts.update().where(posts.c.id == 404).values(like_count=posts.c.like_count + 3)
            )
    await counters.add(404, "like", 1)
    await flush_counters(db, counters)
    assert await _stored(db, 404) == (4, 0)
    assert await counters.pending([404]) == {}


async def test_a_failed_flush_is_retried(
    db: Database, counters: RedisCounters, monkeypatch: pytest.MonkeyPatch
) -> None:
    await counters.add(303, "repost", 2)
    original = db.transaction

    def broken() -> object:
        raise RuntimeError("database went away")

    monkeypatch.setattr(db, "transaction", broken)
    with pytest.raises(RuntimeError):
        await flush_counters(db, counters)
    assert (await _live(db, counters, [303]))[303] == (0, 2)
    monkeypatch.setattr(db, "transaction", original)
    await counters.add(303, "repost", 1)
    await flush_counters(db, counters)
    assert await _stored(db, 303) == (0, 3)
    assert await counters.pending([303]) == {}


async def test_concurrent_adds_and_flushes_add_up(db: Database, counters: RedisCounters) -> None:
    async def likes(post_id: int, n: int) -> None:
        for _ in range(n):
            await counters.add(post_id, "like", 1)

    async def flushes(rounds: int) -> None:
        for _ in range(rounds):
            await flush_counters(db, counters, batch=2)
            await asyncio.sleep(0)

    await asyncio.gather(*(likes(p, 40) for p in POSTS for _ in range(3)), flushes(10))
    assert await _live(db, counters, POSTS) == dict.fromkeys(POSTS, (120, 0))
    await flush_counters(db, counters)
    assert {p: await _stored(db, p) for p in POSTS} == dict.fromkeys(POSTS, (120, 0))
