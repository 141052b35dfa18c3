"""A page's timeline window and celebrity pull read together, in one round trip, as apart."""

from __future__ import annotations

from typing import Any, cast

import pytest
import redis.asyncio
from redis.exceptions import ConnectionError as RedisConnectionError

from roost.adapters.redis.pull import RedisPageReads, RedisPull
from roost.adapters.redis.recent import RedisRecentPosts
from roost.adapters.redis.resilient import RedisHealth, ResilientTimelineStore
from roost.adapters.redis.timelines import RedisTimelineStore
from roost.ports import PENDING_FLOOR, TimelineWindow

# Every list below is complete: the pull never needs the database connection.
NO_DATABASE = cast(Any, None)


class Reads:
    def __init__(self, client: redis.asyncio.Redis, prefix: str) -> None:
        self.timelines = RedisTimelineStore(client, prefix=prefix, cap=10)
        self.recent = RedisRecentPosts(client, prefix=prefix, cap=10)
        self.clock = 0.0
        self.health = RedisHealth(cooloff=1.0, clock=lambda: self.clock)
        self.resilient = ResilientTimelineStore(self.timelines, self.health)
        self.pull = RedisPull(self.recent, self.health, cap=10)
        self.page = RedisPageReads(
            self.timelines, self.resilient, self.recent, self.pull, self.health, client
        )

    async def apart(
        self, owner: int, authors: list[int], *, before: int | None, limit: int
    ) -> tuple[TimelineWindow | None, list[int]]:
        window = await self.resilient.window(owner, before=before, limit=limit)
        pulled = await self.pull.pull(NO_DATABASE, authors, before=before, floor=0, limit=limit)
        return window, pulled

    async def together(
        self, owner: int, authors: list[int], *, before: int | None, limit: int
    ) -> tuple[TimelineWindow | None, list[int]]:
        return await self.page.window_and_pull(
            NO_DATABASE, owner, authors, before=before, window_limit=limit, pull_limit=limit
        )


@pytest.fixture
async def reads(client: redis.asyncio.Redis, prefix: str) -> Reads:
    r = Reads(client, prefix)
    await r.timelines.begin_rebuild(1)
    await r.timelines.finish_rebuild(1, [10, 20, 30, 40], 5)
    await r.recent.fill(100, [15, 25, 35, 45, 55], complete=True)
    await r.recent.fill(200, [12, 22], complete=True)
    return r


@pytest.mark.parametrize("before", [None, 41, 30, 13, 1])
@pytest.mark.parametrize("limit", [1, 3, 20])
@pytest.mark.parametrize("authors", [[], [100], [100, 200], [200, 100, 200]])
async def test_together_as_apart(reads: Reads, before: int | None, limit: int, authors: list[int]) -> None:
    expected = await reads.apart(1, authors, before=before, limit=limit)
    assert await reads.together(1, authors, before=before, limit=limit) == expected


async def test_a_timeline_not_materialized_pulls_nothing(reads: Reads) -> None:
    assert await reads.together(2, [100], before=None, limit=5) == (None, [])


async def test_both_scripts_load_again_after_a_script_flush(
    client: redis.asyncio.Redis, reads: Reads
) -> None:
    await client.script_flush()
    assert await reads.together(1, [100, 200], before=None, limit=3) == (
        TimelineWindow([40, 30, 20], 5),
        [55, 45, 35],
    )


async def test_redis_down_sends_the_page_to_the_database(reads: Reads) -> None:
    reads.health.failed(RedisConnectionError("down"))
    assert await reads.together(1, [100], before=None, limit=5) == (TimelineWindow([], PENDING_FLOOR), [])


async def test_a_timeline_that_missed_a_write_is_dropped_before_it_is_read(
    reads: Reads, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refused(*_: Any, **__: Any) -> Any:
        raise RedisConnectionError("refused")

    monkeypatch.setattr(reads.timelines, "push", refused)
    await reads.resilient.push(50, [1])  # lost: the timeline is out of step now
    monkeypatch.undo()
    assert await reads.together(1, [100], before=None, limit=5) == (TimelineWindow([], PENDING_FLOOR), [])
    reads.clock += 2  # the cool-off is over
    # Dropped, so the feed rebuilds it, instead of serving it without post 50.
    assert await reads.together(1, [100], before=None, limit=5) == (None, [])
