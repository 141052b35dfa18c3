"""The celebrity pull path on Redis: authors' recent-post lists, with the database behind them.

An author whose list cannot answer a range exactly (missing after a flush or an eviction, still
filling, trimmed above the range) is read from the database in the same query as the others, and
on a first page its list is refilled so the next reader is served from Redis. While Redis is
unreachable every author is read from the database.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from roost.adapters.redis.recent import RedisRecentPosts
from roost.adapters.redis.resilient import REDIS_ERRORS, RedisHealth
from roost.queries.feed import recent_post_ids

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
        listed, missing = newest
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
