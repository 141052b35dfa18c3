"""The shared post cache on a real Redis: round trips, invalidation races and outages."""

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


def _cache(client: RedisClient, prefix: str) -> RedisPostCache:
    return RedisPostCache(client, prefix=prefix, health=RedisHealth(cooloff=0.0))


async def test_entries_come_back_in_one_round_trip(
    client: redis.asyncio.Redis, prefix: str, round_trips: Callable[[], int]
) -> None:
    cache = _cache(client, prefix)
    await cache.put({1: POST, 2: {**POST, "content": "two"}})
    before = round_trips()
    found = await cache.get([1, 2, 3])
    assert round_trips() - before == 1
    assert found == {1: POST, 2: {**POST, "content": "two"}}
    assert await client.ttl(Keys(prefix).post(1)) > 0


async def test_a_fill_never_overwrites_an_entry(client: redis.asyncio.Redis, prefix: str) -> None:
    cache = _cache(client, prefix)
    await cache.put({1: POST})
    await cache.put({1: {**POST, "content": "other"}})
    assert await cache.get([1]) == {1: POST}


async def test_a_stale_fill_after_a_delete_is_refused(client: redis.asyncio.Redis, prefix: str) -> None:
    """A reader that read the row before the delete committed cannot put it back afterwards."""
    cache = _cache(client, prefix)
    await cache.put({1: POST})
    await cache.forget_posts([1])
    await cache.put({1: POST})  # the stale reader's fill
    assert await cache.get([1]) == {}


async def test_an_unreachable_redis_is_a_miss_not_an_error() -> None:
    client = connect_redis("redis://127.0.0.1:1/0")
    try:
        cache = _cache(client, "roost-test-unreachable")
        await cache.put({1: POST})
        assert await cache.get([1]) == {}
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
            await cache.put({1: POST})
            await proxy.cut()
            await cache.forget_posts([1])  # fails: Redis is unreachable
            assert await client.exists(Keys(prefix).post(1)) == 1
            await proxy.restore()
            assert await cache.get([1]) == {}
            await cache.put({1: POST})
            assert await cache.get([1]) == {}
        finally:
            await proxied.aclose()
