"""Degraded mode: while Redis is unreachable, feed reads go to the database instead of failing.

The feed's timeline store answers a failed read with a pending window (floor PENDING_FLOOR), which
sends the feed down its database path, and skips failed writes. A timeline whose write failed may
be out of step once Redis is back, so it is dropped before its next read and rebuilt. Workers use
the plain store: their failures must propagate so the event is redelivered, never skipped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.adapters.redis.client import RedisClient
from roost.core.errors import Unavailable
from roost.ports import PENDING_FLOOR, Event, EventSink, TimelineStore, TimelineWindow

log = logging.getLogger(__name__)

# What a lost or refused Redis connection raises (redis-py wraps most socket errors in RedisError).
REDIS_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)


class RedisHealth:
    """A small circuit breaker: after a failure Redis is left alone for `cooloff` seconds.

    During an outage this keeps every feed read from paying a connection attempt; after the
    cool-off the next call tries again, so recovery needs no operator.
    """

    def __init__(self, *, cooloff: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._cooloff = cooloff
        self._clock = clock
        self._down_until = 0.0
        self._down = False

    @property
    def available(self) -> bool:
        return self._clock() >= self._down_until

    def failed(self, error: BaseException) -> None:
        if not self._down:
            log.warning("Redis unavailable, feeds read from the database: %s", error)
        self._down = True
        self._down_until = self._clock() + self._cooloff

    def succeeded(self) -> None:
        if self._down:
            log.warning("Redis is back")
        self._down = False


class ResilientTimelineStore:
    """The feed's view of the Redis timelines: a Redis failure never fails a feed request."""

    def __init__(self, store: TimelineStore, health: RedisHealth) -> None:
        self._store = store
        self._health = health
        # Owners whose timeline missed a write: dropped (and so rebuilt) before they are read again.
        self._suspect: set[int] = set()

    @property
    def health(self) -> RedisHealth:
        return self._health

    def _failed(self, owner_ids: Sequence[int], error: BaseException) -> None:
        self._health.failed(error)
        self._suspect.update(owner_ids)

    async def window(
        self, owner_id: int, *, before: int | None, limit: int, conn: AsyncConnection | None = None
    ) -> TimelineWindow | None:
        if not await self.settle(owner_id):
            return TimelineWindow([], PENDING_FLOOR)
        try:
            window = await self._store.window(owner_id, before=before, limit=limit)
        except REDIS_ERRORS as e:
            self._failed([], e)
            return TimelineWindow([], PENDING_FLOOR)
        self._health.succeeded()
        return window

    async def settle(self, owner_id: int) -> bool:
        """Before a read of the owner's timeline: drops it if it missed a write. False while Redis
        is down (read nothing from it then; the feed's database path answers)."""
        if not self._health.available:
            return False
        if owner_id in self._suspect:
            try:
                await self._store.drop(owner_id)
            except REDIS_ERRORS as e:
                self._failed([], e)
                return False
            self._suspect.discard(owner_id)
        return True

    async def push(self, post_id: int, owner_ids: Sequence[int], *, run: int | None = None) -> int:
        try:
            return await self._store.push(post_id, owner_ids, run=run)
        except REDIS_ERRORS as e:
            self._failed(owner_ids, e)
            return 0

    async def merge(self, owner_id: int, post_ids: Sequence[int]) -> None:
        try:
            await self._store.merge(owner_id, post_ids)
        except REDIS_ERRORS as e:
            self._failed([owner_id], e)

    async def remove(self, owner_id: int, post_ids: Sequence[int]) -> None:
        try:
            await self._store.remove(owner_id, post_ids)
        except REDIS_ERRORS as e:
            self._failed([owner_id], e)

    async def remove_from_many(self, post_id: int, owner_ids: Sequence[int]) -> None:
        try:
            await self._store.remove_from_many(post_id, owner_ids)
        except REDIS_ERRORS as e:
            self._failed(owner_ids, e)

    async def begin_rebuild(self, owner_id: int) -> None:
        try:
            await self._store.begin_rebuild(owner_id)
        except REDIS_ERRORS as e:
            self._failed([owner_id], e)

    async def finish_rebuild(self, owner_id: int, post_ids: Sequence[int], floor: int) -> None:
        try:
            await self._store.finish_rebuild(owner_id, post_ids, floor)
        except REDIS_ERRORS as e:
            # Left pending it would send every read to the database: drop it on the next read.
            self._failed([owner_id], e)

    async def drop(self, owner_id: int) -> None:
        try:
            await self._store.drop(owner_id)
        except REDIS_ERRORS as e:
            self._failed([owner_id], e)


class RedisGatedSink:
    """Hands events to in-process handlers only while Redis answers.

    During an outage the relay gets `Unavailable` and leaves the events in the outbox to retry
    later, instead of the handlers failing on Redis and using up each event's retry budget.
    """

    def __init__(self, inner: EventSink, client: RedisClient) -> None:
        self._inner = inner
        self._redis = client

    async def publish(self, events: Sequence[Event]) -> None:
        try:
            await self._redis.ping()
        except REDIS_ERRORS as e:
            raise Unavailable("Redis is unavailable") from e
        await self._inner.publish(events)


async def redis_ping(client: RedisClient) -> bool:
    try:
        await client.ping()
    except REDIS_ERRORS:
        return False
    return True
