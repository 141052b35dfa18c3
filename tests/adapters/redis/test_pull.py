"""A page's timeline window and celebrity pull read together, in one round trip, as apart."""

from __future__ import annotations

import logging
from typing import Any, cast

import pytest
import redis.asyncio
from redis.exceptions import ConnectionError as RedisConnectionError

from roost.adapters.redis import pull
from roost.adapters.redis.pull import RedisPageReads, RedisPull
from roost.adapters.redis.recent import RedisRecentPosts
from roost.adapters.redis.resilient import RedisHealth, ResilientTimelineStore
from roost.adapters.redis.timelines import RedisTimelineStore
from roost.ports import PENDING_FLOOR, TimelineWindow
from roost.queries.feed import Pulled

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
        self.page = RedisPageReads(self.timelines, self.resilient, self.recent, self.pull)

    async def apart(
        self, owner: int, authors: list[int], *, before: int | None, limit: int, pull_limit: int = 0
    ) -> tuple[TimelineWindow | None, Pulled | None]:
        """The two reads one after the other, the pull from where the page needs it (`_assemble`)."""
        pull_limit = pull_limit or limit
        window = await self.resilient.window(owner, before=before, limit=limit)
        if window is not None and window.floor == PENDING_FLOOR:
            return window, Pulled([], floor=PENDING_FLOOR, limit=pull_limit)  # nothing above the floor
        if window is None or (before is not None and before <= window.floor):
            return window, None
        full = len(window.post_ids) >= limit
        floor = max(window.floor, window.post_ids[-1]) if full else window.floor
        pulled = await self.pull.pull(NO_DATABASE, authors, before=before, floor=floor, limit=pull_limit)
        return window, Pulled(pulled, floor=floor, limit=pull_limit)

    async def together(
        self, owner: int, authors: list[int], *, before: int | None, limit: int, pull_limit: int = 0
    ) -> tuple[TimelineWindow | None, Pulled | None]:
        return await self.page.window_and_pull(
            NO_DATABASE, owner, authors, before=before, window_limit=limit, pull_limit=pull_limit or limit
        )


@pytest.fixture
async def reads(client: redis.asyncio.Redis, prefix: str) -> Reads:
    r = Reads(client, prefix)
    for owner, ids, floor in ((1, [10, 20, 30, 40], 5), (2, [36, 41, 50], 35), (3, [], 0)):
        await r.timelines.begin_rebuild(owner)
        await r.timelines.finish_rebuild(owner, ids, floor)
    await r.timelines.begin_rebuild(4)  # pending
    await r.recent.fill(100, [15, 25, 35, 45, 55], complete=True)
    await r.recent.fill(200, [12, 22], complete=True)
    # Complete only down to 33: it answers for timeline 2 (floor 35), not for 1 (floor 5).
    await r.recent.fill(300, [33, 43, 53], complete=False)
    return r


@pytest.mark.parametrize("before", [None, 41, 30, 13, 1])
@pytest.mark.parametrize("limit", [1, 3, 20])
@pytest.mark.parametrize("authors", [[], [100], [100, 200], [200, 100, 200]])
@pytest.mark.parametrize("owner", [1, 3, 4])
@pytest.mark.parametrize("pull_limit", [0, 16])  # 0: the window's limit; 16: as pages read
async def test_together_as_apart(
    reads: Reads, owner: int, before: int | None, limit: int, authors: list[int], pull_limit: int
) -> None:
    expected = await reads.apart(owner, authors, before=before, limit=limit, pull_limit=pull_limit)
    assert await reads.together(owner, authors, before=before, limit=limit, pull_limit=pull_limit) == expected


@pytest.mark.parametrize("before", [None, 51, 45])
@pytest.mark.parametrize("limit", [1, 3, 20])
async def test_a_list_complete_down_to_the_windows_floor_needs_no_database(
    reads: Reads, before: int | None, limit: int
) -> None:
    # Read from floor 0, list 300 could not answer and the pull would read the database.
    expected = await reads.apart(2, [100, 300], before=before, limit=limit)
    assert await reads.together(2, [100, 300], before=before, limit=limit) == expected


async def test_a_list_not_complete_down_to_the_floor_is_read_from_the_database(
    reads: Reads, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = {300: [53, 43, 33, 23, 13]}  # the list holds only those down to 33
    asked: list[tuple[list[int], int]] = []

    async def recent_post_ids(
        conn: Any, author_ids: list[int], *, before: int | None, floor: int, limit: int
    ) -> list[int]:
        asked.append((list(author_ids), floor))
        ids = [i for a in author_ids for i in database.get(a, []) if i >= floor]
        return sorted((i for i in ids if before is None or i < before), reverse=True)[:limit]

    monkeypatch.setattr(pull, "recent_post_ids", recent_post_ids)
    expected = await reads.apart(1, [100, 300], before=45, limit=20)
    asked.clear()
    assert await reads.together(1, [100, 300], before=45, limit=20) == expected
    assert expected[1] == Pulled([43, 35, 33, 25, 23, 15, 13], floor=5, limit=20)
    assert asked[0] == ([300], 5)


async def test_a_timeline_not_materialized_pulls_nothing(reads: Reads) -> None:
    assert await reads.together(9, [100], before=None, limit=5) == (None, None)


async def test_both_scripts_load_again_after_a_script_flush(
    client: redis.asyncio.Redis, reads: Reads
) -> None:
    await client.script_flush()
    assert await reads.together(1, [100, 200], before=None, limit=3) == (
        TimelineWindow([40, 30, 20], 5),
        Pulled([55, 45, 35], floor=20, limit=3),
    )


async def test_redis_down_sends_the_page_to_the_database(
    reads: Reads, caplog: pytest.LogCaptureFixture
) -> None:
    reads.health.failed(RedisConnectionError("down"))
    assert await reads.together(1, [100], before=None, limit=5) == (
        TimelineWindow([], PENDING_FLOOR),
        Pulled([], floor=PENDING_FLOOR, limit=5),
    )
    reads.clock += 2  # the cool-off is over
    with caplog.at_level(logging.WARNING):
        assert (await reads.together(1, [100], before=None, limit=5))[0] == TimelineWindow(
            [40, 30, 20, 10], 5
        )
    assert "Redis is back" in caplog.text


async def test_a_timeline_that_missed_a_write_is_dropped_before_it_is_read(
    reads: Reads, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refused(*_: Any, **__: Any) -> Any:
        raise RedisConnectionError("refused")

    monkeypatch.setattr(reads.timelines, "push", refused)
    await reads.resilient.push(50, [1])  # lost: the timeline is out of step now
    monkeypatch.undo()
    assert (await reads.together(1, [100], before=None, limit=5))[0] == TimelineWindow([], PENDING_FLOOR)
    reads.clock += 2  # the cool-off is over
    # Dropped, so the feed rebuilds it, instead of serving it without post 50.
    assert await reads.together(1, [100], before=None, limit=5) == (None, None)
