"""Fixtures for the Redis adapter tests: a client on 127.0.0.1:6379 and a throwaway key prefix."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio
from redis.exceptions import RedisError

REDIS_URL = "redis://127.0.0.1:6379/0"


async def connect() -> redis.asyncio.Redis:
    """A connected client, or a skip (a failure when ROOST_REQUIRE_SERVICES=1) without a server."""
    client = redis.asyncio.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        await client.ping()
    except (RedisError, OSError) as e:
        await client.aclose()
        message = f"Redis at 127.0.0.1:6379 unreachable: {e}"
        if os.environ.get("ROOST_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return client


async def delete_prefix(client: redis.asyncio.Redis, prefix: str) -> None:
    keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=1000)]
    if keys:
        await client.delete(*keys)


def new_prefix() -> str:
    return f"roost-test-{uuid.uuid4().hex}"


@pytest.fixture
async def client() -> AsyncIterator[redis.asyncio.Redis]:
    c = await connect()
    yield c
    await c.aclose()


@pytest.fixture
async def prefix(client: redis.asyncio.Redis) -> AsyncIterator[str]:
    p = new_prefix()
    yield p
    await delete_prefix(client, p)
