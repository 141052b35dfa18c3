"""Counter flusher (production profile): moves buffered like / repost deltas from Redis to the posts table.

Per shard, under the shard's lock: take the pending deltas into flight (reads still count them),
apply them all in one database transaction, then clear them from flight. A failed transaction
leaves them in flight and the next round retries them. The one inexact case is a process dying
between the commit and the clear: the lock expires and that batch is applied twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import bindparam, update

from roost.adapters.redis.counters import RedisCounters
from roost.adapters.sql.database import Database
from roost.adapters.sql.tables import posts

log = logging.getLogger(__name__)

_APPLY = (
    update(posts)
    .where(posts.c.id == bindparam("post_id"))
    .values(
        like_count=posts.c.like_count + bindparam("likes"),
        repost_count=posts.c.repost_count + bindparam("reposts"),
    )
)


async def flush_shard(db: Database, counters: RedisCounters, shard: int, *, batch: int = 1000) -> int:
    """Flush one shard; returns how many posts' counters went to the database."""
    async with counters.flushing(shard) as locked:
        if not locked:
            return 0  # another flusher is on it
        taken = await counters.take(shard, limit=batch)
        if not taken:
            return 0
        rows = [
            {"post_id": post_id, "likes": d.get("like", 0), "reposts": d.get("repost", 0)}
            for post_id, d in sorted(taken.items())
        ]
        async with db.transaction() as conn:
            await conn.execute(_APPLY, rows)
        await counters.done(shard, list(taken))
    return len(taken)


async def flush_counters(db: Database, counters: RedisCounters, *, batch: int = 1000) -> int:
    """One round over every shard; returns how many posts were flushed."""
    total = 0
    for shard in range(counters.shards):
        total += await flush_shard(db, counters, shard, batch=batch)
    return total


class CounterFlushLoop:
    """Runs `flush_counters` every `interval` seconds in the background (`roost worker`, API processes)."""

    def __init__(self, db: Database, counters: RedisCounters, *, interval: float = 1.0) -> None:
        self._db = db
        self._counters = counters
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="counter-flush")

    async def stop(self) -> None:
        """Stop, then flush once more so a clean shutdown leaves the database exact."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await flush_counters(self._db, self._counters)
        except Exception:
            log.exception("final counter flush failed; the deltas stay in Redis for the next flusher")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await flush_counters(self._db, self._counters)
            except Exception:
                log.exception("counter flush failed, retrying")
