"""The celebrity pull path on Redis: authors' recent-post lists, with the database behind them.

An author whose list cannot answer a range exactly (missing after a flush or an eviction, still
filling, trimmed above the range) is read from the database in the same query as the others, and
on a first page its list is refilled so the next reader is served from Redis. While Redis is
unreachable every author is read from the database. A warm page's first pull goes in one round
trip with its timeline window (`RedisPageReads`).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from roost.adapters.redis import idsets
from roost.adapters.redis.client import RedisClient
from roost.adapters.redis.recent import RedisRecentPosts
from roost.adapters.redis.resilient import REDIS_ERRORS, RedisHealth, ResilientTimelineStore
from roost.adapters.redis.timelines import RedisTimelineStore, window_of
from roost.ports import PENDING_FLOOR, TimelineWindow
from roost.queries.feed import Pulled, recent_post_ids

# Lists refilled per feed read at most, so a viewer following many cold celebrities pays a bounded cost.
REFILLS_PER_READ = 4


class RedisPull:
    """PullSource on RedisRecentPosts, exact whatever the state of the lists."""

    def __init__(self, recent: RedisRecentPosts, health: RedisHealth, *, cap: int) -> None:
        self._recent = recent
        self._health = health
        self._cap = cap

    async def pull(
        self, conn: AsyncConnection, author_ids: Sequence[int], *, before: int | None, floor: int, limit: int
    ) -> list[int]:
        if not author_ids:
            return []
        newest = await self._newest(author_ids, before=before, floor=floor, limit=limit)
        if newest is None:
            return await recent_post_ids(conn, author_ids, before=before, floor=floor, limit=limit)
        return await self.complete(conn, *newest, before=before, floor=floor, limit=limit)

    async def complete(
        self,
        conn: AsyncConnection,
        listed: list[int],
        missing: list[int],
        *,
        before: int | None,
        floor: int,
        limit: int,
    ) -> list[int]:
        """The pull from what the lists answered (`RedisRecentPosts.newest`): the authors they could
        not answer for are read from the database, and on a first page their lists refilled."""
        found = set(listed)
        if missing:
            found.update(await recent_post_ids(conn, missing, before=before, floor=floor, limit=limit))
            if before is None:
                await self._refill(conn, missing[:REFILLS_PER_READ])
        # Each source gave its `limit` newest in range, so the `limit` newest of the union are exact.
        return sorted(found, reverse=True)[:limit]

    async def _newest(
        self, author_ids: Sequence[int], *, before: int | None, floor: int, limit: int
    ) -> tuple[list[int], list[int]] | None:
        """What the lists can answer and who they cannot answer for; None while Redis is down."""
        if not self._health.available:
            return None
        try:
            newest = await self._recent.newest(author_ids, before=before, floor=floor, limit=limit)
        except REDIS_ERRORS as e:
            self._health.failed(e)
            return None
        self._health.succeeded()
        return newest

    async def _refill(self, conn: AsyncConnection, author_ids: Sequence[int]) -> None:
        """Load the newest posts of each author into their list; posts added meanwhile are merged."""
        for author_id in author_ids:
            ids = await recent_post_ids(conn, [author_id], before=None, floor=0, limit=self._cap)
            try:
                await self._recent.fill(author_id, ids, complete=len(ids) < self._cap)
            except REDIS_ERRORS as e:
                self._health.failed(e)
                return


class RedisPageReads:
    """PageReads on Redis: a page's timeline window and its pull in one pipeline, one round trip
    instead of two. `timelines` (wrapped by `resilient`) and `recent` must be `client`'s, and
    `resilient` and `pull` must share `health`."""

    def __init__(
        self,
        timelines: RedisTimelineStore,
        resilient: ResilientTimelineStore,
        recent: RedisRecentPosts,
        pull: RedisPull,
        health: RedisHealth,
        client: RedisClient,
    ) -> None:
        self._timelines = timelines
        self._resilient = resilient
        self._recent = recent
        self._pull = pull
        self._health = health
        self._redis = client

    async def window_and_pull(
        self,
        conn: AsyncConnection,
        owner_id: int,
        author_ids: Sequence[int],
        *,
        before: int | None,
        window_limit: int,
        pull_limit: int,
    ) -> tuple[TimelineWindow | None, Pulled | None]:
        authors = list(dict.fromkeys(author_ids))
        # A pending window (also while Redis is down) sends the page down the feed's database path,
        # and nothing lies above its floor to pull.
        nothing = Pulled([], floor=PENDING_FLOOR, limit=pull_limit)
        if not await self._resilient.settle(owner_id):
            return TimelineWindow([], PENDING_FLOOR), nothing
        calls = [
            self._timelines.window_call(owner_id, before=before, limit=window_limit),
            *self._recent.listed_calls(authors, before=before, limit=pull_limit),
        ]
        try:
            replies = await idsets.run_scripts(self._redis, calls)
        except REDIS_ERRORS as e:
            self._health.failed(e)
            return TimelineWindow([], PENDING_FLOOR), nothing
        self._health.succeeded()
        window = window_of(replies[0])
        if window is not None and window.floor == PENDING_FLOOR:
            return window, nothing
        if window is None or (before is not None and before <= window.floor):
            # No cached range to merge the pull into: the feed reads the page another way.
            return window, None
        # The pull need not go below what the page can take from the window (see `_assemble`).
        full = len(window.post_ids) >= window_limit
        floor = max(window.floor, window.post_ids[-1]) if full else window.floor
        listed, missing = self._recent.listed_of(authors, replies[1:], floor=floor, limit=pull_limit)
        pulled = await self._pull.complete(
            conn, listed, missing, before=before, floor=floor, limit=pull_limit
        )
        return window, Pulled(pulled, floor=floor, limit=pull_limit)
