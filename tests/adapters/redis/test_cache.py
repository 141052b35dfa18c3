"""The hydration cache on a real Redis: round trips, invalidation races and outages."""

from __future__ import annotations

from collections.abc import Callable

import redis.asyncio
from tests.test_production_profile import TcpProxy

from roost.adapters.redis.cache import RedisPostCache
from roost.adapters.redis.client import RedisClient
from roost.adapters.redis.keys import Keys
from roost.adapters.redis.resilient import RedisHealth
from roost.runtime import connect_redis

POST = {"content": "hello", "hashtags": ["tag"], "createdAt": "2024-01-01T00:00:00+00:00"}
AUTHOR = {"username": "ann", "displayName": "Ann", "avatarUrl": None, "isVerified": False}


def _cache(client: RedisClient, prefix: str) -> RedisPostCache:
    return RedisPostCache(client, prefix=prefix, health=RedisHealth(cooloff=0.0))


async def test_entries_come_back_in_one_round_trip(
    client: redis.asyncio.Redis, prefix: str, round_trips: Callable[[], int]
) -> None:
    cache = _cache(client, prefix)
    await cache.put({1: POST, 2: {**POST, "content": "two"}}, {7: AUTHOR})
    before = round_trips()
    found_posts, found_users = await cache.get([1, 2, 3], [7, 8])
    assert round_trips() - before == 1
    assert found_posts == {1: POST, 2: {**POST, "content": "two"}}
    assert found_users == {7: AUTHOR}
    assert await client.ttl(Keys(prefix).post(1)) > 0


async def test_a_fill_never_overwrites_an_entry(client: redis.asyncio.Redis, prefix: str) -> None:
    cache = _cache(client, prefix)
    await cache.put({}, {7: AUTHOR})
    await cache.put({}, {7: {**AUTHOR, "displayName": "Other"}})
    assert (await cache.get([], [7]))[1] == {7: AUTHOR}


async def test_a_stale_fill_after_an_invalidation_is_refused(
    client: redis.asyncio.Redis, prefix: str
) -> None:
    """A reader that read the old row before the change committed cannot put it back afterwards."""
    cache = _cache(client, prefix)
    await cache.put({1: POST}, {7: AUTHOR})
    await cache.forget_users([7])
    await cache.forget_posts([1])
    await cache.put({1: POST}, {7: AUTHOR})  # the stale reader's fill
    assert await cache.get([1], [7]) == ({}, {})


async def test_an_unreachable_redis_is_a_miss_not_an_error() -> None:
    client = connect_redis("redis://127.0.0.1:1/0")
    try:
        cache = _cache(client, "roost-test-unreachable")
        await cache.put({1: POST}, {7: AUTHOR})
        assert await cache.get([1], [7]) == ({}, {})
        await cache.forget_users([7])
        await cache.forget_posts([1])
    finally:
        await client.aclose()


async def test_an_invalidation_lost_in_an_outage_is_made_before_the_next_read(
    client: redis.asyncio.Redis, prefix: str
) -> None:
    async with TcpProxy.to("127.0.0.1", 6379) as proxy:
        proxied = connect_redis(f"redis://127.0.0.1:{proxy.port}/0")
        try:
            cache = _cache(proxied, prefix)
            await cache.put({}, {7: AUTHOR})
            await proxy.cut()
            await cache.forget_users([7])  # fails: Redis is unreachable
            assert await client.exists(Keys(prefix).user(7)) == 1
            await proxy.restore()
            assert await cache.get([], [7]) == ({}, {})
            await cache.put({}, {7: AUTHOR})
            assert await cache.get([], [7]) == ({}, {})
        finally:
            await proxied.aclose()
