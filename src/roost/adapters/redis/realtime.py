"""Real-time hub on Redis (production profile): events reach whichever API process holds the stream.

Per user, hash-tagged so one user's keys share a Cluster slot:
`<prefix>:rtseq:{u}` the sequence (a new epoch starts at Redis' clock in microseconds, so ids only
grow), `<prefix>:rtbuf:{u}` the replay buffer (sorted set of messages by id, capped, expiring),
`<prefix>:rtcon:{u}` the open connections (id -> expiry, for the per-user limit), and the channel
`<prefix>:rt:{u}`. Presence is spread over a few sorted sets `<prefix>:rton:{b}` (user -> expiry),
so the celebrity path can scan the online users instead of the followers.

Each process holds one pub/sub connection, subscribed to the channels of its connected users.
Pub/sub may drop messages (a reconnect); the buffer is the truth, so a stream that sees a gap, and
every stream at each heartbeat, catches up from it, or gets a `reset` event when it cannot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any

import orjson
from redis.exceptions import RedisError
from redis.typing import EncodableT

from roost.adapters.embedded.realtime import LocalStream, RealtimeLimits, too_many_streams
from roost.adapters.redis.client import RedisClient, is_cluster
from roost.adapters.redis.idsets import run_batch, run_script
from roost.adapters.redis.keys import Keys
from roost.core.errors import Unavailable
from roost.ports import LiveStream, Outgoing, StreamEvent

log = logging.getLogger(__name__)

PRESENCE_BUCKETS = 16
_SUBSCRIBE_TIMEOUT = 5.0

# Starts a new epoch when the sequence is missing: Redis' clock in microseconds.
_ENSURE_SEQ = r"""
local function ensure_seq(key, ttl)
  if redis.call('EXISTS', key) == 0 then
    local t = redis.call('TIME')
    redis.call('SET', key, t[1] .. string.format('%06d', tonumber(t[2])), 'PX', ttl)
  end
end
"""

# KEYS: seq, buffer. ARGV: message body '{"event":..,"data":..}', cap, ttl ms, channel.
# The id is spliced in as a string: Lua numbers would print a 16-digit id in exponent form.
_PUBLISH = (
    _ENSURE_SEQ
    + r"""
ensure_seq(KEYS[1], ARGV[3])
redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
local seq = redis.call('GET', KEYS[1])
local message = '{"id":"' .. seq .. '",' .. string.sub(ARGV[1], 2)
redis.call('ZADD', KEYS[2], seq, message)
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[2]) + 1))
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('PUBLISH', ARGV[4], message)
return seq
"""
)

# KEYS: seq, buffer, connections. ARGV: now ms, connection id, connection ttl ms, limit, ttl ms.
# Returns the current sequence, or false when the user has too many open streams.
_OPEN = (
    _ENSURE_SEQ
    + r"""
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[4]) then return false end
redis.call('ZADD', KEYS[3], tonumber(ARGV[1]) + tonumber(ARGV[3]), ARGV[2])
redis.call('PEXPIRE', KEYS[3], ARGV[3])
ensure_seq(KEYS[1], ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return redis.call('GET', KEYS[1])
"""
)


# KEYS: the presence buckets. ARGV: now (ms). Drops expired entries; returns each bucket's size.
_SWEEP = """
local sizes = {}
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[1])
  sizes[i] = redis.call('ZCARD', key)
end
return sizes
"""


class RedisRealtimeHub:
    def __init__(self, client: RedisClient, *, prefix: str, limits: RealtimeLimits | None = None) -> None:
        self._redis = client
        self.prefix = Keys(prefix).prefix
        self.limits = limits or RealtimeLimits()
        self._publish = client.register_script(_PUBLISH)
        self._open = client.register_script(_OPEN)
        self._sweep = client.register_script(_SWEEP)
        self._ttl_ms = int(self.limits.replay_seconds * 1000)
        self._presence_ms = int(self.limits.presence_seconds * 1000)
        self._streams: dict[int, set[LocalStream]] = {}
        self._connection_ids: dict[LocalStream, str] = {}
        self._subscribed: dict[str, asyncio.Event] = {}
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._catching_up: set[LocalStream] = set()
        # Highest id seen live by a stream that is catching up.
        self._behind: dict[LocalStream, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    # Keys: the prefix stays outside the braces (see Keys).
    def _seq(self, user_id: int) -> str:
        return f"{self.prefix}:rtseq:{{{user_id}}}"

    def _buffer(self, user_id: int) -> str:
        return f"{self.prefix}:rtbuf:{{{user_id}}}"

    def _connections(self, user_id: int) -> str:
        return f"{self.prefix}:rtcon:{{{user_id}}}"

    def channel(self, user_id: int) -> str:
        return f"{self.prefix}:rt:{{{user_id}}}"

    def _presence(self, bucket: int) -> str:
        return f"{self.prefix}:rton:{{{bucket}}}"

    # Presence.

    async def online(self, user_ids: Sequence[int]) -> set[int]:
        by_bucket: dict[int, list[int]] = {}
        for user_id in set(user_ids):
            by_bucket.setdefault(user_id % PRESENCE_BUCKETS, []).append(user_id)
        if not by_bucket:
            return set()
        async with self._redis.pipeline(transaction=False) as pipe:
            for bucket, ids in by_bucket.items():
                pipe.zmscore(self._presence(bucket), [str(i) for i in ids])
            answers = await pipe.execute()
        now = _now_ms()
        return {
            user_id
            for ids, scores in zip(by_bucket.values(), answers, strict=True)
            for user_id, score in zip(ids, scores, strict=True)
            if score is not None and score > now
        }

    async def online_users(self, *, batch: int) -> AsyncGenerator[list[int], None]:
        """Expired entries go, then every bucket is sized in one round trip (nobody online, as on
        most posts of a quiet server: that is all), small buckets are read in one more, and only
        buckets larger than a batch are scanned."""
        now = _now_ms()
        keys = [self._presence(bucket) for bucket in range(PRESENCE_BUCKETS)]
        if is_cluster(self._redis):  # the buckets lie in different slots: a command each
            async with self._redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.zremrangebyscore(key, "-inf", now)
                    pipe.zcard(key)
                sizes = (await pipe.execute())[1::2]
        else:  # one script call: the client packs and parses one command, not 32
            sizes = await run_script(self._redis, self._sweep, keys, [now])
        small = [key for key, size in zip(keys, sizes, strict=True) if 0 < size <= batch]
        large = [key for key, size in zip(keys, sizes, strict=True) if size > batch]
        found: list[int] = []
        if small:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key in small:
                    pipe.zrange(key, 0, -1, withscores=True)
                for members in await pipe.execute():
                    found.extend(int(member) for member, score in members if score > now)
        for key in large:
            async for member, score in self._redis.zscan_iter(key, count=batch):
                if score > now:
                    found.append(int(member))
                if len(found) >= batch:
                    yield found
                    found = []
        for start in range(0, len(found), batch):
            yield found[start : start + batch]

    async def _touch_presence(self, user_id: int) -> bool:
        """Mark the user present; whether it already was (nothing was skipped while away)."""
        key, now = self._presence(user_id % PRESENCE_BUCKETS), _now_ms()
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zscore(key, user_id)
            pipe.zadd(key, {str(user_id): now + self._presence_ms}, gt=True)
            before, _ = await pipe.execute()
        return before is not None and before > now

    # Publishing.

    async def publish(self, messages: Sequence[Outgoing]) -> None:
        calls: list[tuple[Sequence[str], Sequence[EncodableT]]] = [
            (
                [self._seq(m.user_id), self._buffer(m.user_id)],
                [
                    orjson.dumps({"event": m.event, "data": m.data}),
                    self.limits.replay_size,
                    self._ttl_ms,
                    self.channel(m.user_id),
                ],
            )
            for m in messages
        ]
        if calls:
            await run_batch(self._redis, self._publish, calls)

    async def publish_to_user(self, user_id: int, event_type: str, data: Mapping[str, Any]) -> bool:
        if not await self.online([user_id]):
            return False
        await self.publish([Outgoing(user_id, event_type, data)])
        return True

    # Streams.

    async def open(self, user_id: int, *, last_event_id: int | None) -> LiveStream:
        if self._closed:
            raise Unavailable("the server is shutting down")
        connection_id = uuid.uuid4().hex
        was_present = await self._touch_presence(user_id)
        current = await run_script(
            self._redis,
            self._open,
            [self._seq(user_id), self._buffer(user_id), self._connections(user_id)],
            [_now_ms(), connection_id, self._presence_ms, self.limits.streams_per_user, self._ttl_ms],
        )
        if current is None:
            raise too_many_streams()
        stream = LocalStream(
            user_id,
            capacity=self.limits.queue_size,
            replay_capacity=self.limits.replay_size,
            on_heartbeat=self._heartbeat,
            on_close=self._release,
        )
        if last_event_id is None:
            stream.last = int(current)
        elif not was_present:
            # Nothing was published for the user while it was away past the presence expiry.
            stream.force_reset(int(current), "expired")
        else:
            stream.last = last_event_id
        self._connection_ids[stream] = connection_id
        try:
            await self._subscribe(stream)
            # Replays what the client missed, and whatever was published before the subscription held.
            await self._catch_up(stream)
        except BaseException:
            await stream.aclose()
            raise
        return stream

    async def _subscribe(self, stream: LocalStream) -> None:
        streams = self._streams.setdefault(stream.user_id, set())
        streams.add(stream)
        channel = self.channel(stream.user_id)
        confirmed = self._subscribed.get(channel)
        if confirmed is None:
            confirmed = self._subscribed[channel] = asyncio.Event()
            pubsub = await self._ensure_reader()
            await pubsub.subscribe(channel)
        async with asyncio.timeout(_SUBSCRIBE_TIMEOUT):
            await confirmed.wait()

    async def _ensure_reader(self) -> Any:
        if self._pubsub is None:
            if is_cluster(self._redis):
                # A plain PUBLISH reaches every node of a cluster: one connection to any node hears
                # every channel (sharded pub/sub would need one per node).
                await self._redis.initialize()
                self._pubsub = self._redis.pubsub(node=self._redis.get_default_node())
            else:
                self._pubsub = self._redis.pubsub()
            await self._pubsub.connect()
            self._reader = asyncio.create_task(self._read(), name="realtime-pubsub")
        return self._pubsub

    async def _read(self) -> None:
        """Hands pub/sub messages to the local streams of their users."""
        pubsub = self._pubsub
        while True:
            try:
                message = await pubsub.get_message(timeout=1.0)
            except (RedisError, OSError):
                log.warning("realtime pub/sub connection lost; streams catch up after reconnecting")
                await asyncio.sleep(0.5)
                for streams in list(self._streams.values()):
                    for stream in list(streams):
                        self._spawn_catch_up(stream)
                continue
            if message is None:
                continue
            channel = message["channel"]
            channel = channel.decode() if isinstance(channel, bytes) else str(channel)
            if message["type"] == "subscribe":
                event = self._subscribed.get(channel)
                if event is not None:
                    event.set()
            elif message["type"] == "message":
                self._deliver(channel, message["data"])

    def _deliver(self, channel: str, raw: bytes) -> None:
        user_id = int(channel.rsplit("{", 1)[1].rstrip("}"))
        event = _parse(raw)
        for stream in list(self._streams.get(user_id, ())):
            if event.id == stream.last + 1 and stream not in self._catching_up:
                stream.offer(event)
            elif event.id > stream.last:
                self._behind[stream] = max(event.id, self._behind.get(stream, 0))
                self._spawn_catch_up(stream)

    def _spawn_catch_up(self, stream: LocalStream) -> None:
        if stream in self._catching_up or stream.closed is not None:
            return
        task = asyncio.create_task(self._catch_up(stream))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _catch_up(self, stream: LocalStream) -> None:
        """Queue every buffered event after the stream's last one, or a reset if some are gone."""
        if stream in self._catching_up:
            return
        self._catching_up.add(stream)
        try:
            # Live events that arrive meanwhile only raise the mark: go again until it is reached.
            for _round in range(3):
                await self._catch_up_once(stream)
                if self._behind.pop(stream, 0) <= stream.last:
                    break
        except (RedisError, OSError):
            log.warning("realtime catch-up failed for user %s", stream.user_id, exc_info=True)
        finally:
            self._catching_up.discard(stream)

    async def _catch_up_once(self, stream: LocalStream) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(self._seq(stream.user_id))
            pipe.zrangebyscore(self._buffer(stream.user_id), f"({stream.last}", "+inf")
            current_raw, raw_events = await pipe.execute()
        if current_raw is None:
            stream.force_reset(stream.last, "expired")
            return
        current = int(current_raw)
        if current < stream.last:
            # An id this sequence never issued (a forged or foreign Last-Event-ID).
            stream.force_reset(current, "gap")
            return
        if current == stream.last:
            return
        missed = [e for e in map(_parse, raw_events) if e.id <= current]
        if missed and missed[0].id == stream.last + 1 and len(missed) == current - stream.last:
            for event in missed:
                stream.offer(event, replayed=True)
        else:
            stream.force_reset(current, "gap")

    async def _heartbeat(self, stream: LocalStream) -> None:
        user_id = stream.user_id
        ttl = self._ttl_ms
        try:
            await self._touch_presence(user_id)
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.zadd(
                    self._connections(user_id), {self._connection_ids[stream]: _now_ms() + self._presence_ms}
                )
                pipe.pexpire(self._connections(user_id), self._presence_ms)
                # A connected user's sequence must not lapse into a new epoch while it is quiet.
                pipe.pexpire(self._seq(user_id), ttl)
                pipe.pexpire(self._buffer(user_id), ttl)
                await pipe.execute()
        except (RedisError, OSError):
            log.warning("realtime heartbeat failed for user %s", user_id, exc_info=True)
            return
        await self._catch_up(stream)

    async def _release(self, stream: LocalStream) -> None:
        user_id = stream.user_id
        connection_id = self._connection_ids.pop(stream, None)
        self._behind.pop(stream, None)
        streams = self._streams.get(user_id)
        if streams is not None:
            streams.discard(stream)
            if not streams:
                del self._streams[user_id]
                channel = self.channel(user_id)
                self._subscribed.pop(channel, None)
                if self._pubsub is not None and not self._closed:
                    with contextlib.suppress(RedisError, OSError):
                        await self._pubsub.unsubscribe(channel)
        if connection_id is not None and not self._closed:
            # Presence itself stays until it expires, so a reconnecting client can resume.
            with contextlib.suppress(RedisError, OSError):
                await self._redis.zrem(self._connections(user_id), connection_id)

    async def close(self) -> None:
        """Close every local stream and the pub/sub connection; the Redis client stays the caller's."""
        self._closed = True
        for streams in list(self._streams.values()):
            for stream in list(streams):
                stream.close("server shutting down")
        for task in [*self._tasks, *([self._reader] if self._reader else [])]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._reader = None
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.aclose()
            self._pubsub = None


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _parse(raw: bytes | str) -> StreamEvent:
    body = orjson.loads(raw)
    return StreamEvent(id=int(body["id"]), event=str(body["event"]), data=body["data"])
