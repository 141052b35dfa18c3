"""The event-stream consumer run by `roost worker`: a consumer group over the partition streams.

Every worker process joins the group "workers" and reads all partitions; Redis hands each entry to
one consumer. Within a process the entries of one partition are handled one after another (so the
events of one user are handled in order), different partitions concurrently. Across processes two
consumers may hold entries of one partition at once; the handlers re-read current state and are
idempotent, so neither that nor redelivery changes the result.

Delivery is at least once: an entry is acknowledged only after its handlers succeed. Entries left
pending by a dead consumer are taken over with XAUTOCLAIM once idle for `claim_idle_ms`; a live
consumer keeps its in-flight entries fresh, so a long fan-out is not taken from it. A failing entry
is retried the same way, and after `max_delivery_attempts` deliveries it moves to the dead-letter
stream. An outage of the database or Redis is not the event's fault: it counts no failed attempt,
and the consumer backs off. A consumer told to stop finishes the entry in hand and hands the rest
of its batch back, marked idle, so the next claim pass of any worker takes them.

Redis Cluster (ROOST_REDIS_CLUSTER): one XREADGROUP over all partitions is a multi-slot command,
which Cluster refuses, so there each round sends one non-blocking XREADGROUP per partition stream,
pipelined (the client splits the pipeline by node), and sleeps briefly when all come back empty.
Rounds still run one after another, so the per-partition order holds.

`drain` (tests, `Runtime.drain`) handles each round one entry at a time in event-id order across
partitions (a round reads up to the batch size from each): the order the events were made in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Mapping, Sequence
from typing import Any

import redis.exceptions
from redis.exceptions import RedisError, ResponseError

from roost.adapters.redis.client import RedisClient, is_cluster
from roost.adapters.redis.stream import GROUP, StreamLayout, decode_event
from roost.core.errors import Unavailable
from roost.core.settings import Settings
from roost.metrics import EVENTS_FAILED
from roost.workers.context import WorkerContext
from roost.workers.dispatch import dispatch
from roost.workers.relay import RelayLoop

log = logging.getLogger(__name__)

# A stream entry as redis-py returns it: (entry id, fields).
Message = tuple[bytes, Mapping[bytes, bytes]]

# Failures of the services the handlers use: retried without counting against the event.
OUTAGES = (Unavailable, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)

# Consumers with nothing pending and idle this long are removed from the group (dead processes).
_FORGET_IDLE_MS = 3_600_000
_FORGET_EVERY_S = 600.0
# Cluster: how long a consumer that found nothing new waits before reading the partitions again.
CLUSTER_IDLE_SECONDS = 0.05


def default_consumer_name() -> str:
    """Unique per process, so a restarted worker never inherits a dead one's pending entries blindly."""
    return f"{socket.gethostname()}-{os.getpid()}"


class Consumer:
    """One process's member of the consumer group."""

    def __init__(
        self,
        redis: RedisClient,
        ctx: WorkerContext,
        settings: Settings,
        consumer_name: str,
        *,
        batch: int = 100,
        block_ms: int = 1000,
    ) -> None:
        self.name = consumer_name
        self.layout = StreamLayout(settings.redis_prefix, settings.stream_partitions)
        self._redis = redis
        self._ctx = ctx
        self._batch = batch
        self._block_ms = block_ms
        self._claim_idle_ms = settings.claim_idle_ms
        self._max_attempts = settings.max_delivery_attempts
        self._maxlen = settings.stream_maxlen
        self._claim_cursors: dict[str, bytes | str] = dict.fromkeys(self.layout.streams, "0-0")
        self._groups_ready = False
        self._next_claim = 0.0
        # Entries handled this round, by stream: acknowledged together when the round ends.
        self._handled: dict[str, list[bytes]] = {}
        self._next_forget = 0.0
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Finish the entry in hand, then return from run_forever (SIGTERM)."""
        self._stopping.set()

    async def ensure_groups(self) -> None:
        """Create the group on every partition; from id 0, so entries added before it count too."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for stream in self.layout.streams:
                pipe.xgroup_create(stream, GROUP, id="0", mkstream=True)
            replies = await pipe.execute(raise_on_error=False)
        for reply in replies:
            if isinstance(reply, Exception) and "BUSYGROUP" not in str(reply):
                raise reply
        self._groups_ready = True

    async def run_once(self, block_ms: int, *, in_event_order: bool = False) -> int:
        """One round: take over stuck entries, or else read new ones (waiting up to block_ms; 0 means
        no wait), and handle them, partitions concurrently or, `in_event_order`, one entry at a time
        by event id; returns how many entries were handed to handlers."""
        if not self._groups_ready:
            await self.ensure_groups()
        try:
            batches = await self._claim_stuck()
            if not batches:
                batches = await self._read_new(block_ms)
        except ResponseError as e:
            if "NOGROUP" not in str(e):
                raise
            self._groups_ready = False  # the streams were deleted under us: recreate next round
            return 0
        try:
            if in_event_order:
                entries = sorted(
                    ((stream, message) for stream, messages in batches.items() for message in messages),
                    key=lambda entry: _event_id(entry[1]),
                )
                results: list[int | BaseException] = [
                    await self._handle_partition(stream, [message]) for stream, message in entries
                ]
            else:
                results = await asyncio.gather(
                    *(self._handle_partition(stream, messages) for stream, messages in batches.items()),
                    return_exceptions=True,
                )
        finally:
            await self._acknowledge()
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return sum(r for r in results if isinstance(r, int))

    async def drain(self) -> int:
        """Handle rounds until one finds nothing (tests); returns how many entries were handled."""
        total = 0
        while handled := await self.run_once(block_ms=0, in_event_order=True):
            total += handled
        return total

    async def run_forever(self) -> None:
        """Rounds until stop(); backs off while Redis or the database is unavailable."""
        backoff = 0.5
        while not self._stopping.is_set():
            try:
                await self.run_once(self._block_ms)
                await self._forget_dead_consumers()
                backoff = 0.5
            except (*OUTAGES, RedisError) as e:
                log.warning("consumer %s: %s; retrying in %.1f s", self.name, e, backoff)
                await self._pause(backoff)
                backoff = min(backoff * 2, 10.0)
            except Exception:
                # A bug outside the handlers: keep the process serving the other partitions.
                log.exception("consumer %s: round failed; retrying in %.1f s", self.name, backoff)
                await self._pause(backoff)
                backoff = min(backoff * 2, 10.0)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    async def _claim_stuck(self) -> dict[str, list[Message]]:
        """XAUTOCLAIM entries idle longer than claim_idle_ms, at most every claim_idle_ms / 2."""
        now = time.monotonic()
        if now < self._next_claim:
            return {}
        async with self._redis.pipeline(transaction=False) as pipe:
            for stream in self.layout.streams:
                pipe.xautoclaim(
                    stream,
                    GROUP,
                    self.name,
                    min_idle_time=self._claim_idle_ms,
                    start_id=self._claim_cursors[stream],
                    count=self._batch,
                )
            replies = await pipe.execute()
        batches: dict[str, list[Message]] = {}
        more = False
        for stream, reply in zip(self.layout.streams, replies, strict=True):
            cursor = reply[0]
            self._claim_cursors[stream] = cursor
            more = more or cursor not in (b"0-0", "0-0")
            # Entries trimmed while pending come back empty (Redis 6.2); Redis 7 drops them itself.
            messages = [(mid, fields) for mid, fields in reply[1] if mid is not None and fields is not None]
            if messages:
                batches[stream] = messages
        # With more left to scan (a dead consumer left a backlog), keep claiming every round.
        self._next_claim = now if more else now + self._claim_idle_ms / 2000
        return batches

    async def _read_new(self, block_ms: int) -> dict[str, list[Message]]:
        if is_cluster(self._redis):
            return await self._read_each(block_ms)
        reply: Any = await self._redis.xreadgroup(
            GROUP,
            self.name,
            dict.fromkeys(self.layout.streams, ">"),
            count=self._batch,
            block=block_ms if block_ms > 0 else None,
        )
        return _batches(reply)

    async def _read_each(self, block_ms: int) -> dict[str, list[Message]]:
        """Cluster: one XREADGROUP per partition (each stream in its own slot), in one pipeline.

        Not blocking: a blocked read would hold its node's connection while the others wait, so
        an empty round sleeps a little instead (the wait bounds how late a new event is seen).
        """
        async with self._redis.pipeline(transaction=False) as pipe:
            for stream in self.layout.streams:
                pipe.xreadgroup(GROUP, self.name, {stream: ">"}, count=self._batch)
            replies = await pipe.execute()
        batches: dict[str, list[Message]] = {}
        for reply in replies:
            batches.update(_batches(reply))
        if not batches and block_ms > 0:
            await self._pause(min(block_ms / 1000, CLUSTER_IDLE_SECONDS))
        return batches

    async def _handle_partition(self, stream: str, messages: Sequence[Message]) -> int:
        """Handle one partition's entries in order; returns how many were handed to handlers."""
        in_flight = {mid for mid, _ in messages}
        # An event, not cancel(): redis-py can swallow a cancellation that lands mid-command.
        done = asyncio.Event()
        heartbeat = asyncio.create_task(self._keep_claimed(stream, in_flight, done))
        handled = 0
        try:
            for mid, fields in messages:
                if self._stopping.is_set():
                    break  # the rest are handed back to the group
                await self._handle(stream, mid, fields)
                in_flight.discard(mid)
                handled += 1
        finally:
            done.set()
            await heartbeat
        if in_flight and self._stopping.is_set():
            await self._hand_back(stream, in_flight)
        return handled

    async def _keep_claimed(self, stream: str, in_flight: set[bytes], done: asyncio.Event) -> None:
        """Resets the idle time of entries still in hand, so no one claims them while we work."""
        interval = max(self._claim_idle_ms / 3000, 0.01)
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), timeout=interval)
            if done.is_set():
                return
            if in_flight:
                with contextlib.suppress(RedisError):
                    # JUSTID: refreshes ownership without counting a delivery.
                    await self._redis.xclaim(
                        stream, GROUP, self.name, min_idle_time=0, message_ids=list(in_flight), justid=True
                    )

    async def _hand_back(self, stream: str, ids: set[bytes]) -> None:
        """Mark entries we will not handle (stopping) as idle, so the next claim pass anywhere takes them."""
        with contextlib.suppress(RedisError):
            await self._redis.xclaim(
                stream,
                GROUP,
                self.name,
                min_idle_time=0,
                message_ids=list(ids),
                idle=self._claim_idle_ms,
                justid=True,
            )

    async def _handle(self, stream: str, mid: bytes, fields: Mapping[bytes, bytes]) -> None:
        try:
            event = decode_event(fields)
        except ValueError as e:
            log.error("stream entry %s of %s is malformed: %s", mid, stream, e)
            await self._bury(stream, mid, fields, reason=str(e), attempts=1)
            return
        try:
            await dispatch(self._ctx, event)
        except OUTAGES:
            raise  # not the event's fault: the round ends and run_forever backs off
        except Exception as e:
            EVENTS_FAILED.labels(topic=event.topic).inc()
            attempts = await self._deliveries(stream, mid)
            if attempts < self._max_attempts:
                log.warning(
                    "event %s (%s) failed on delivery %d of %d, retried in %d ms",
                    event.id,
                    event.topic,
                    attempts,
                    self._max_attempts,
                    self._claim_idle_ms,
                    exc_info=True,
                )
                return
            log.exception("event %s (%s) is dead after %d deliveries", event.id, event.topic, attempts)
            await self._bury(stream, mid, fields, reason=repr(e), attempts=attempts)
            return
        self._handled.setdefault(stream, []).append(mid)

    async def _acknowledge(self) -> None:
        """Acknowledge the round's handled entries: one round trip for the round, not one per entry.

        An entry handled but not yet acknowledged when the process dies is delivered again, as one
        that died mid-handler is: handlers are idempotent.
        """
        handled, self._handled = self._handled, {}
        if handled:
            async with self._redis.pipeline(transaction=False) as pipe:
                for stream, ids in handled.items():
                    pipe.xack(stream, GROUP, *ids)
                await pipe.execute()

    async def _deliveries(self, stream: str, mid: bytes) -> int:
        """How many times the entry was delivered (XPENDING); 0 if it is no longer ours to judge."""
        rows = await self._redis.xpending_range(stream, GROUP, min=mid, max=mid, count=1)
        return int(rows[0]["times_delivered"]) if rows else 0

    async def _bury(
        self, stream: str, mid: bytes, fields: Mapping[bytes, bytes], *, reason: str, attempts: int
    ) -> None:
        """Move an entry to the dead-letter stream, then acknowledge it.

        Two steps, not a MULTI (different Cluster slots): a crash in between leaves a duplicate
        dead letter, never a lost one.
        """
        dead: dict[Any, Any] = {
            **fields,
            "source": stream,
            "source_id": mid,
            "attempts": attempts,
            "error": reason[:1000],
        }
        await self._redis.xadd(self.layout.dead, dead, maxlen=self._maxlen, approximate=True)
        await self._redis.xack(stream, GROUP, mid)

    async def _forget_dead_consumers(self) -> None:
        """Remove consumers of dead processes (nothing pending, idle an hour) from the group."""
        now = time.monotonic()
        if now < self._next_forget:
            return
        self._next_forget = now + _FORGET_EVERY_S
        async with self._redis.pipeline(transaction=False) as pipe:
            for stream in self.layout.streams:
                pipe.xinfo_consumers(stream, GROUP)
            replies = await pipe.execute(raise_on_error=False)
        for stream, consumers in zip(self.layout.streams, replies, strict=True):
            if isinstance(consumers, Exception):
                continue
            for c in consumers:
                name = c["name"].decode() if isinstance(c["name"], bytes) else str(c["name"])
                if name != self.name and int(c["pending"]) == 0 and int(c["idle"]) > _FORGET_IDLE_MS:
                    await self._redis.xgroup_delconsumer(stream, GROUP, name)


def _batches(reply: Any) -> dict[str, list[Message]]:
    """The non-empty per-stream entry lists of an XREADGROUP reply (RESP2 list or RESP3 dict)."""
    items = reply.items() if isinstance(reply, dict) else (reply or [])
    batches: dict[str, list[Message]] = {}
    for stream, messages in items:
        if messages:
            name = stream.decode() if isinstance(stream, bytes) else str(stream)
            batches[name] = [(mid, fields) for mid, fields in messages]
    return batches


async def run_worker(
    redis: RedisClient,
    ctx: WorkerContext,
    settings: Settings,
    *,
    consumer_name: str,
    relay: RelayLoop | None = None,
) -> None:
    """`roost worker`: consume the stream (and run the outbox relay) until SIGTERM or SIGINT.

    `redis` serves the blocking reads, so it must have no socket timeout shorter than a read.
    """
    consumer = Consumer(redis, ctx, settings, consumer_name)
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)
    for sig in signals:
        loop.add_signal_handler(sig, consumer.stop)
    if relay is not None:
        relay.start()
    log.info("worker %s consuming %d partitions", consumer_name, settings.stream_partitions)
    try:
        await consumer.run_forever()
    finally:
        if relay is not None:
            await relay.stop()
        for sig in signals:
            loop.remove_signal_handler(sig)
    log.info("worker %s stopped", consumer_name)


def _event_id(message: Message) -> int:
    """The event id of a stream entry, 0 when it has none (a malformed entry goes first)."""
    fields = message[1]
    try:
        return int(fields.get(b"id") or fields.get("id") or 0)  # type: ignore[call-overload]
    except ValueError:
        return 0
