"""The composition root: builds the adapters of the configured profile and runs background work."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from roost.adapters.embedded.events import InlineSink
from roost.adapters.embedded.realtime import EmbeddedRealtimeHub
from roost.adapters.embedded.timelines import SqlTimelineStore
from roost.adapters.memory import LayeredPostCache, MemoryPostCache
from roost.adapters.redis.cache import RedisPostCache
from roost.adapters.redis.client import RedisClient
from roost.adapters.redis.counters import RedisCounters
from roost.adapters.redis.lane import LaneRedis, RedisLane
from roost.adapters.redis.pull import RedisPageReads, RedisPull
from roost.adapters.redis.realtime import RedisRealtimeHub
from roost.adapters.redis.recent import RedisRecentPosts
from roost.adapters.redis.resilient import (
    REDIS_ERRORS,
    RedisGatedSink,
    RedisHealth,
    ResilientTimelineStore,
    redis_ping,
)
from roost.adapters.redis.timelines import RedisTimelineStore
from roost.adapters.sql import migrate
from roost.adapters.sql.database import Database
from roost.core.errors import Unavailable
from roost.core.ids import IdGenerator
from roost.core.security import Passwords, Tokens
from roost.core.settings import Settings
from roost.ports import EventSink, PostCache, TimelineStore
from roost.queries.feed import DatabasePull, FeedContext, PageReads, PullSource
from roost.queries.graph import GraphCache
from roost.workers.consumer import Consumer, default_consumer_name
from roost.workers.context import WorkerContext
from roost.workers.counters import CounterFlushLoop, flush_counters
from roost.workers.realtime import LiveUpdates
from roost.workers.relay import RelayLoop
from roost.workers.stream_relay import stream_relay

log = logging.getLogger(__name__)

# After a Redis failure, feed reads skip Redis this long before trying it again.
REDIS_RETRY_SECONDS = 1.0

# Builds the outbox relay of a runtime from its database, worker context and Redis client (None
# in the embedded profile). The seam where the production event stream plugs in.
RelayFactory = Callable[[Database, WorkerContext, RedisClient | None], RelayLoop]


def inline_relay(db: Database, workers: WorkerContext, client: RedisClient | None) -> RelayLoop:
    """Events handled by the consumers in this process (embedded; production until the stream is wired)."""
    sink: EventSink = InlineSink(workers)
    if client is not None:
        sink = RedisGatedSink(sink, client)
    return RelayLoop(db, sink)


def connect_redis(url: str, *, cluster: bool = False) -> RedisClient:
    """A client that fails fast, so an outage degrades feeds instead of stalling them.

    One immediate retry replaces a pooled connection that died with a Redis restart.
    decode_responses stays False: timeline members are binary. With `cluster` (ROOST_REDIS_CLUSTER)
    a Redis Cluster client, discovering the nodes from the one in the URL.
    """
    if cluster:
        return RedisCluster.from_url(
            url, socket_connect_timeout=1.0, socket_timeout=2.0, retry=Retry(NoBackoff(), 1)
        )
    client = LaneRedis.from_url(
        url,
        socket_connect_timeout=1.0,
        socket_timeout=2.0,
        retry=Retry(NoBackoff(), 1),
        health_check_interval=30,
    )
    assert isinstance(client, LaneRedis)
    # The hot pipelines (feed reads, fan-out) go through a lean lane of their own (see lane.py).
    client.lane = RedisLane.of_client(client)
    return client


class KnownAccounts:
    """A bounded set of ids, forgetting the oldest first."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._ids: dict[int, None] = {}

    def __contains__(self, user_id: int) -> bool:
        return user_id in self._ids

    def add(self, user_id: int) -> None:
        self._ids[user_id] = None
        if len(self._ids) > self._capacity:
            del self._ids[next(iter(self._ids))]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    settings: Settings
    db: Database
    ids: IdGenerator
    passwords: Passwords
    tokens: Tokens
    feed: FeedContext
    workers: WorkerContext
    relay: RelayLoop
    # Production profile only: the Redis client behind timelines, recent posts and the stream.
    redis: RedisClient | None = None
    # Production profile only: like / repost counts buffered in Redis, and their flusher.
    counters: RedisCounters | None = None
    counter_flush: CounterFlushLoop | None = None
    # Production profile only: this process's member of the stream's consumer group. `roost
    # worker` runs it; API processes only use it in `drain()` (tests).
    consumer: Consumer | None = None
    # Account ids this process has seen exist (accounts are never deleted): spares auth a query.
    known_accounts: KnownAccounts = field(default_factory=lambda: KnownAccounts(100_000))
    started: bool = field(default=False)

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        passwords: Passwords | None = None,
        relay_factory: RelayFactory | None = None,
    ) -> Runtime:
        """Embedded profile without ROOST_REDIS_URL, production profile (Redis timelines) with it."""
        if settings.is_sqlite:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(
            settings.sqlalchemy_url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow
        )
        ids = IdGenerator(settings.worker_id)
        client: RedisClient | None = None
        timelines: TimelineStore
        feed_timelines: TimelineStore
        pull: PullSource
        page_reads: PageReads | None = None
        recent: RedisRecentPosts | None = None
        counters: RedisCounters | None = None
        # Posts' immutable fields for hydration: this process's memory, then Redis (production).
        cache: PostCache = MemoryPostCache(settings.post_cache_size)
        if settings.redis_url is None:
            timelines = feed_timelines = SqlTimelineStore(db, cap=settings.timeline_cap)
            pull = DatabasePull()
        else:
            client = connect_redis(settings.redis_url, cluster=settings.redis_cluster)
            prefix, cap = settings.redis_prefix, settings.timeline_cap
            # Workers write through the plain store (a failure means redelivery); feed reads
            # through the resilient one (a failure means the database path).
            timelines = RedisTimelineStore(client, prefix=prefix, cap=cap, cluster=settings.redis_cluster)
            recent = RedisRecentPosts(client, prefix=prefix, cap=cap)
            health = RedisHealth(cooloff=REDIS_RETRY_SECONDS)
            feed_timelines = ResilientTimelineStore(timelines, health)
            pull = RedisPull(recent, health, cap=cap)
            page_reads = RedisPageReads(timelines, feed_timelines, recent, pull)
            counters = RedisCounters(client, prefix=prefix)
            cache = LayeredPostCache(
                MemoryPostCache(settings.post_cache_size),
                RedisPostCache(client, prefix=prefix, health=health),
            )
        workers = WorkerContext(db=db, ids=ids, timelines=timelines, settings=settings, recent=recent)
        hub = (
            EmbeddedRealtimeHub()
            if client is None
            else RedisRealtimeHub(client, prefix=settings.redis_prefix)
        )
        workers.realtime = LiveUpdates(hub, db)
        if relay_factory is None:
            relay_factory = inline_relay if client is None else stream_relay
        relay = relay_factory(db, workers, client)
        db.on_commit(relay.wake)
        consumer = (
            Consumer(client, workers, settings, default_consumer_name())
            if client is not None and relay_factory is stream_relay
            else None
        )
        return cls(
            settings=settings,
            db=db,
            ids=ids,
            passwords=passwords or Passwords(),
            tokens=Tokens(settings.resolved_secret_key(), ttl_seconds=settings.access_token_ttl),
            feed=FeedContext(
                db=db,
                timelines=feed_timelines,
                pull=pull,
                settings=settings,
                counters=counters,
                cache=cache,
                graphs=GraphCache(settings.graph_cache_size),
                page_reads=page_reads,
            ),
            workers=workers,
            relay=relay,
            redis=client,
            counters=counters,
            counter_flush=CounterFlushLoop(db, counters) if counters is not None else None,
            consumer=consumer,
        )

    async def start(self, *, background: bool = True) -> None:
        """Prepare the schema and start the in-process workers.

        SQLite migrates itself; PostgreSQL must be at head (`roost migrate`), else SchemaNotCurrent.
        An unreachable database or Redis does not stop the start: /readyz says so until they are back.
        """
        if self.settings.is_sqlite:
            await migrate.upgrade(self.db)
        else:
            try:
                await migrate.require_current(self.db)
            except Unavailable:
                log.warning("database unreachable at start: schema not checked")
        if self.redis is not None:
            await self._configure_redis(self.redis)
        if background:
            self.relay.start()
            if self.counter_flush is not None:
                self.counter_flush.start()
        self.started = True

    async def _configure_redis(self, client: RedisClient) -> None:
        """Keep recent-post lists compact (zset-max-listpack-entries >= cap) where the server allows."""
        recent = RedisRecentPosts(client, prefix=self.settings.redis_prefix, cap=self.settings.timeline_cap)
        try:
            await recent.ensure_server_config()
        except REDIS_ERRORS as e:
            log.warning("Redis unreachable at start: %s", e)

    async def readiness(self) -> dict[str, bool]:
        """Whether each backing service answers."""
        checks = {"database": await self.db.ping()}
        if self.redis is not None:
            checks["redis"] = await redis_ping(self.redis)
        return checks

    async def drain(self) -> None:
        """Process every pending event now, through the stream in production (tests, shutdown)."""
        while True:
            moved = await self.relay.drain()
            handled = await self.consumer.drain() if self.consumer is not None else 0
            if not moved and not handled:
                break
        if self.counters is not None:
            await flush_counters(self.db, self.counters)

    async def stop(self) -> None:
        if self.workers.realtime is not None:
            await self.workers.realtime.hub.close()
        await self.relay.stop()
        if self.counter_flush is not None:
            await self.counter_flush.stop()
        await self.db.dispose()
        if self.redis is not None:
            await self.redis.aclose()
        self.started = False
