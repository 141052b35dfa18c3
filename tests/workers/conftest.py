"""Fixtures for the stream worker tests: Redis with a throwaway key prefix, an embedded runtime."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio

from roost.runtime import Runtime
from tests.support import delete_redis_prefix, redis_client, running


@pytest.fixture(name="redis_client")
async def redis_client_fixture() -> AsyncIterator[redis.asyncio.Redis]:
    client = await redis_client()
    yield client
    await client.aclose()


@pytest.fixture
async def prefix(redis_client: redis.asyncio.Redis) -> AsyncIterator[str]:
    p = f"roost-test-{uuid.uuid4().hex}"
    yield p
    await delete_redis_prefix(redis_client, p)


@pytest.fixture
async def rt(tmp_path: Path) -> AsyncIterator[Runtime]:
    """An embedded runtime (SQLite): the consumer does not care which database is behind it."""
    async with running("embedded", tmp_path) as runtime:
        yield runtime
