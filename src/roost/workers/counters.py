"""Counter flusher (production profile): moves buffered like / repost deltas from Redis to the posts table.

Per shard, under the shard's lock: take the pending deltas into flight (reads still count them),
apply them all in one database transaction, then clear them from flight. A failed transaction
leaves them in flight and the next round retries them. The transaction also records the batch's
token, so a batch applied by a process that died before clearing it is not applied again.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, delete, update

from roost.adapters.redis.counters import RedisCounters
from roost.adapters.sql.database import Database
from roost.adapters.sql.dialect import insert_ignoring_duplicates
from roost.adapters.sql.tables import counter_flushes, posts
from roost.workers.background import stop_task

log = logging.getLogger(__name__)

# Bounds one shard's turn, so a flood of likes on one shard cannot starve the others.
_MAX_BATCHES_PER_ROUND = 10
# How many flush rounds between clean-ups of old batch tokens.
_FORGET_EVERY = 3600


def utcnow() -> datetime:
    return datetime.now(UTC)


_APPLY = (
    update(posts)
    .where(posts.c.id == bindparam("post_id"))
    .values(
        like_count=posts.c.like_count + bindparam("likes"),
        repost_count=posts.c.repost_count + bindparam("reposts"),
    )
)


async def flush_shard(db: Database, counters: RedisCounters, shard: int, *, batch: int = 1000) -> int:
    """Flush one shard until nothing is pending; returns how many posts' counters went to the database."""
    flushed = 0
    async with counters.flushing(shard) as locked:
        if not locked:
            return 0  # another flusher is on it
        for _ in range(_MAX_BATCHES_PER_ROUND):
            taken = await counters.take(shard, limit=batch)
            if not taken.deltas:
                break
            rows = [
                {"post_id": post_id, "likes": d.get("like", 0), "reposts": d.get("repost", 0)}
                for post_id, d in sorted(taken.deltas.items())
            ]
            async with db.transaction() as conn:
                first_time = await conn.execute(
                    insert_ignoring_duplicates(conn, counter_flushes).values(
                        token=taken.token, applied_at=utcnow()
                    )
                )
                if first_time.rowcount:
                    await conn.execute(_APPLY, rows)
            await counters.done(shard, list(taken.deltas))
            flushed += len(taken.deltas)
    return flushed


async def forget_old_flushes(db: Database, *, older_than: timedelta = timedelta(days=1)) -> None:
    """Batch tokens only matter until their batch is cleared from Redis, which takes seconds."""
    async with db.transaction() as conn:
        await conn.execute(
            delete(counter_flushes).where(counter_flushes.c.applied_at < utcnow() - older_than)
        )


async def flush_counters(db: Database, counters: RedisCounters, *, batch: int = 1000) -> int:
    """One round over every shard with something to flush; returns how many posts were flushed."""
    total = 0
    for shard in await counters.busy_shards():
        total += await flush_shard(db, counters, shard, batch=batch)
    return total


class CounterFlushLoop:
    """Runs `flush_counters` every `interval` seconds in the background (`roost worker`, API processes)."""

    def __init__(self, db: Database, counters: RedisCounters, *, interval: float = 1.0) -> None:
        self._db = db
        self._counters = counters
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="counter-flush")

    async def stop(self) -> None:
        """Stop, then flush once more so a clean shutdown leaves the database exact."""
        if self._task is not None:
            self._stopping = True
            await stop_task(self._task)
            self._task = None
        try:
            await flush_counters(self._db, self._counters)
        except Exception:
            log.exception("final counter flush failed; the deltas stay in Redis for the next flusher")

    async def _run(self) -> None:
        rounds = 0
        while not self._stopping:
            await asyncio.sleep(self._interval)
            rounds += 1
            try:
                await flush_counters(self._db, self._counters)
                if rounds % _FORGET_EVERY == 0:
                    await forget_old_flushes(self._db)
            except Exception:
                log.exception("counter flush failed, retrying")
