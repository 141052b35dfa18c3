"""The event stream on Redis: the sink, the relay into it, and the consumer group's delivery rules."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio

from roost.adapters.redis.stream import GROUP, RedisStreamSink, StreamLayout, build_stream_sink, decode_event
from roost.core.errors import Unavailable
from roost.core.settings import Settings
from roost.ports import Event
from roost.runtime import Runtime
from roost.workers import consumer as consumer_module
from roost.workers import dispatch
from roost.workers.consumer import Consumer
from roost.workers.context import WorkerContext
from roost.workers.stream_relay import relay_claimed
from tests.support import PROFILES, Api, api_client, running

# Bound on rounds of every polling loop below, so a broken consumer fails instead of hanging.
MAX_ROUNDS = 300


def stream_settings(rt: Runtime, prefix: str, **overrides: Any) -> Settings:
    return rt.settings.model_copy(update={"redis_prefix": prefix, **overrides})


async def pump(rt: Runtime, sink: RedisStreamSink, consumer: Consumer) -> None:
    """Relay the outbox into the stream and consume until both are empty."""
    for _ in range(MAX_ROUNDS):
        sent = await relay_claimed(rt.db, sink)
        handled = await consumer.run_once(block_ms=0)
        if not sent and not handled:
            return
    raise AssertionError("the stream never settled")


async def stream_fields(client: redis.asyncio.Redis, stream: str) -> list[dict[bytes, bytes]]:
    """The fields of every entry of a stream, oldest first."""
    reply: Any = await client.xrange(stream)
    return [fields for _, fields in reply]


async def pending_count(client: redis.asyncio.Redis, layout: StreamLayout) -> int:
    total = 0
    for stream in layout.streams:
        summary = await client.xpending(stream, GROUP)
        total += int(summary["pending"])
    return total


def recording(
    calls: list[Event], *, fail_times: int = 0
) -> Callable[[WorkerContext, Event], Awaitable[None]]:
    """A handler that records each call and raises on the first `fail_times` calls."""

    async def handler(ctx: WorkerContext, event: Event) -> None:
        calls.append(event)
        await asyncio.sleep(0)  # let other partitions interleave
        if len(calls) <= fail_times:
            raise RuntimeError("handler failed on purpose")

    return handler


@pytest.fixture
async def api(rt: Runtime) -> Any:
    async with api_client(rt) as client:
        yield client


async def test_sink_sends_each_event_to_its_key_partition_in_one_round_trip(
    redis_client: redis.asyncio.Redis, prefix: str, round_trips: Callable[[], int]
) -> None:
    sink = RedisStreamSink(redis_client, StreamLayout(prefix, 16), maxlen=1000)
    events = [
        Event(id=101, topic="post.created", key=3, payload={"postId": 7, "authorId": 3}),
        Event(id=102, topic="post.created", key=26, payload={"postId": 8, "authorId": 26}),
        Event(id=103, topic="follow.created", key=5, payload={"followerId": 5, "followeeId": 3}),
    ]
    before = round_trips()
    await sink.publish(events)
    assert round_trips() - before == 1
    p3 = await stream_fields(redis_client, f"{prefix}:events:{{p3}}")
    p6 = await stream_fields(redis_client, f"{prefix}:events:{{p6}}")
    assert [decode_event(fields) for fields in p3] == events[:2]  # keys 3 and 26 hash to partition 3
    assert [decode_event(fields) for fields in p6] == events[2:]


def test_user_ids_spread_evenly_over_the_partitions() -> None:
    """User ids are Snowflake ids, whose low bits (the per-millisecond sequence) are nearly always
    0: ids of users who signed up in different milliseconds must still fill every partition."""
    layout = StreamLayout("roost", 16)
    ids = [(millisecond << 22) | (7 << 12) for millisecond in range(10**9, 10**9 + 1600)]
    per_partition = [0] * 16
    for user_id in ids:
        per_partition[layout.partition_of(user_id)] += 1
    assert min(per_partition) >= 80
    assert max(per_partition) <= 120


async def test_sink_trims_partitions_to_about_maxlen(redis_client: redis.asyncio.Redis, prefix: str) -> None:
    layout = StreamLayout(prefix, 4)
    sink = RedisStreamSink(redis_client, layout, maxlen=10)
    for start in range(0, 2000, 500):
        await sink.publish([Event(id=i, topic="t", key=0) for i in range(start, start + 500)])
    length = await redis_client.xlen(layout.stream_of(0))
    assert 10 <= length < 2000


def test_layout_keeps_prefix_outside_the_hash_tag() -> None:
    layout = StreamLayout("roost", 16)
    assert layout.stream_of(3) == "roost:events:{p3}"
    assert layout.dead == "roost:events:dead"
    with pytest.raises(ValueError, match="brace"):
        StreamLayout("{roost}", 16)


async def test_posts_relayed_through_streams_reach_followers_feeds(
    rt: Runtime, api: Api, redis_client: redis.asyncio.Redis, prefix: str
) -> None:
    settings = stream_settings(rt, prefix)
    sink = build_stream_sink(redis_client, settings)
    consumer = Consumer(redis_client, rt.workers, settings, "c1")
    author, reader = await api.register(), await api.register()
    await api.follow(reader, author)
    await pump(rt, sink, consumer)
    assert await api.feed_ids(reader) == []  # materializes the reader's timeline

    post_id = await api.post(author, "through the stream")
    await pump(rt, sink, consumer)

    window = await rt.workers.timelines.window(int(reader.id), before=None, limit=10)
    assert window is not None
    assert window.post_ids == [int(post_id)]
    assert await api.feed_ids(reader) == [post_id]
    assert await pending_count(redis_client, sink.layout) == 0


async def test_redelivered_event_is_harmless(
    rt: Runtime, api: Api, redis_client: redis.asyncio.Redis, prefix: str
) -> None:
    settings = stream_settings(rt, prefix)
    sink = build_stream_sink(redis_client, settings)
    consumer = Consumer(redis_client, rt.workers, settings, "c1")
    author, reader = await api.register(), await api.register()
    await api.follow(reader, author)
    await pump(rt, sink, consumer)
    await api.feed_ids(reader)
    post_id = await api.post(author)
    await pump(rt, sink, consumer)

    event = Event(id=1, topic="post.created", key=int(author.id), payload={"postId": int(post_id)})
    await sink.publish([event, event])  # a relay that crashed before marking its batch sent
    assert await consumer.run_once(block_ms=0) == 2

    assert await api.feed_ids(reader) == [post_id]
    window = await rt.workers.timelines.window(int(reader.id), before=None, limit=10)
    assert window is not None
    assert window.post_ids == [int(post_id)]
    assert await pending_count(redis_client, sink.layout) == 0


async def test_events_of_one_partition_are_handled_in_order(
    rt: Runtime, redis_client: redis.asyncio.Redis, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Event] = []
    monkeypatch.setitem(dispatch.HANDLERS, "test.record", [recording(calls)])
    settings = stream_settings(rt, prefix, stream_partitions=4)
    sink = build_stream_sink(redis_client, settings)
    events = [Event(id=i, topic="test.record", key=i % 3) for i in range(60)]
    await sink.publish(events)

    consumer = Consumer(redis_client, rt.workers, settings, "c1", batch=7)
    for _ in range(MAX_ROUNDS):
        if not await consumer.run_once(block_ms=0):
            break

    assert sorted(e.id for e in calls) == list(range(60))
    for key in range(3):
        assert [e.id for e in calls if e.key == key] == [e.id for e in events if e.key == key]


async def test_failing_event_moves_to_dead_letter_after_max_attempts(
    rt: Runtime, redis_client: redis.asyncio.Redis, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    poison_calls: list[Event] = []
    good_calls: list[Event] = []
    monkeypatch.setitem(dispatch.HANDLERS, "test.poison", [recording(poison_calls, fail_times=1000)])
    monkeypatch.setitem(dispatch.HANDLERS, "test.good", [recording(good_calls)])
    settings = stream_settings(rt, prefix, claim_idle_ms=20, max_delivery_attempts=3)
    sink = build_stream_sink(redis_client, settings)
    poison = Event(id=1, topic="test.poison", key=4, payload={"n": 1})
    await sink.publish([poison, Event(id=2, topic="test.good", key=4)])

    consumer = Consumer(redis_client, rt.workers, settings, "c1")
    for _ in range(MAX_ROUNDS):
        await consumer.run_once(block_ms=0)
        if await redis_client.xlen(sink.layout.dead):
            break
        await asyncio.sleep(0.03)  # let the failed entry go idle, so it is claimed again

    assert len(poison_calls) == 3
    assert [e.id for e in good_calls] == [2]  # the poison did not block its partition
    dead = await stream_fields(redis_client, sink.layout.dead)
    assert len(dead) == 1
    fields = dead[0]
    assert decode_event(fields) == poison
    assert fields[b"attempts"] == b"3"
    assert b"handler failed on purpose" in fields[b"error"]
    assert fields[b"source"] == sink.layout.stream_of(4).encode()
    assert await pending_count(redis_client, sink.layout) == 0
    # Nothing comes back once buried.
    await asyncio.sleep(0.03)
    assert await consumer.run_once(block_ms=0) == 0
    assert len(poison_calls) == 3


async def test_event_failing_fewer_than_max_attempts_is_retried_until_it_succeeds(
    rt: Runtime, redis_client: redis.asyncio.Redis, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Event] = []
    monkeypatch.setitem(dispatch.HANDLERS, "test.flaky", [recording(calls, fail_times=2)])
    settings = stream_settings(rt, prefix, claim_idle_ms=20, max_delivery_attempts=3)
    sink = build_stream_sink(redis_client, settings)
    await sink.publish([Event(id=1, topic="test.flaky", key=1)])

    consumer = Consumer(redis_client, rt.workers, settings, "c1")
    for _ in range(MAX_ROUNDS):
        await consumer.run_once(block_ms=0)
        if await pending_count(redis_client, sink.layout) == 0:
            break
        await asyncio.sleep(0.03)

    assert len(calls) == 3
    assert await redis_client.xlen(sink.layout.dead) == 0


async def test_entries_left_pending_by_a_dead_consumer_are_claimed(
    rt: Runtime, redis_client: redis.asyncio.Redis, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Event] = []
    monkeypatch.setitem(dispatch.HANDLERS, "test.record", [recording(calls)])
    settings = stream_settings(rt, prefix, claim_idle_ms=60_000)
    sink = build_stream_sink(redis_client, settings)
    patient = Consumer(redis_client, rt.workers, settings, "patient")
    await patient.ensure_groups()
    await sink.publish([Event(id=i, topic="test.record", key=i) for i in range(5)])
    # A consumer that reads, then dies before acknowledging.
    taken: Any = await redis_client.xreadgroup(
        GROUP, "dead", dict.fromkeys(sink.layout.streams, ">"), count=10
    )
    assert sum(len(messages) for _, messages in taken) == 5

    # Entries that were just delivered are not taken from their consumer.
    assert await patient.run_once(block_ms=0) == 0
    assert calls == []

    eager = Consumer(redis_client, rt.workers, stream_settings(rt, prefix, claim_idle_ms=10), "eager")
    await asyncio.sleep(0.05)
    assert await eager.run_once(block_ms=0) == 5
    assert sorted(e.id for e in calls) == list(range(5))
    assert await pending_count(redis_client, sink.layout) == 0


async def test_live_consumer_keeps_its_slow_entry(
    rt: Runtime, redis_client: redis.asyncio.Redis, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Event] = []

    async def slow(ctx: WorkerContext, event: Event) -> None:
        calls.append(event)
        await asyncio.sleep(1.0)  # several claim idle times

    monkeypatch.setitem(dispatch.HANDLERS, "test.slow", [slow])
    settings = stream_settings(rt, prefix, claim_idle_ms=300)
    sink = build_stream_sink(redis_client, settings)
    await sink.publish([Event(id=1, topic="test.slow", key=1)])
    worker = Consumer(redis_client, rt.workers, settings, "worker")
    rival = Consumer(redis_client, rt.workers, settings, "rival")
    busy = asyncio.create_task(worker.run_once(block_ms=0))
    for _ in range(MAX_ROUNDS):
        if calls:
            break  # the worker has it in hand
        await asyncio.sleep(0.01)
    while not busy.done():
        await rival.run_once(block_ms=0)
        await asyncio.sleep(0.05)

    assert await busy == 1
    assert len(calls) == 1
    assert await pending_count(redis_client, sink.layout) == 0


async def test_stop_ends_run_forever(rt: Runtime, redis_client: redis.asyncio.Redis, prefix: str) -> None:
    consumer = Consumer(redis_client, rt.workers, stream_settings(rt, prefix), "c1", block_ms=50)
    task = asyncio.create_task(consumer.run_forever())
    await asyncio.sleep(0.1)
    consumer.stop()
    await asyncio.wait_for(task, timeout=10)


async def test_stopping_consumer_hands_back_entries_it_did_not_handle(
    rt: Runtime, redis_client: redis.asyncio.Redis, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Event] = []
    settings = stream_settings(rt, prefix, claim_idle_ms=60_000)
    stopping = Consumer(redis_client, rt.workers, settings, "stopping")

    async def handler(ctx: WorkerContext, event: Event) -> None:
        calls.append(event)
        stopping.stop()  # SIGTERM arrives while the first entry is in hand

    monkeypatch.setitem(dispatch.HANDLERS, "test.record", [handler])
    sink = build_stream_sink(redis_client, settings)
    await sink.publish([Event(id=i, topic="test.record", key=2) for i in range(3)])
    assert await stopping.run_once(block_ms=0) == 1

    # Another worker takes the other two at once, not after the claim idle time of a minute.
    other = Consumer(redis_client, rt.workers, settings, "other")
    assert await other.run_once(block_ms=0) == 2
    assert [e.id for e in calls] == [0, 1, 2]
    assert await pending_count(redis_client, sink.layout) == 0


@pytest.mark.parametrize("profile", PROFILES)
async def test_concurrent_relays_publish_each_event_once(
    profile: str, tmp_path: Path, redis_client: redis.asyncio.Redis, prefix: str
) -> None:
    async with running(profile, tmp_path) as rt, api_client(rt) as api:
        sink = build_stream_sink(redis_client, stream_settings(rt, prefix))
        author = await api.register()
        for i in range(30):
            await api.post(author, f"post {i}")
        await relay_concurrently(rt, sink)
    entries = []
    for stream in sink.layout.streams:
        entries += [decode_event(f) for f in await stream_fields(redis_client, stream)]
    created = [e for e in entries if e.topic == "post.created"]
    assert len(created) == 30
    assert len({e.id for e in entries}) == len(entries)


async def relay_concurrently(rt: Runtime, sink: RedisStreamSink) -> None:
    """Three relays at once, as in three processes (on PostgreSQL, three connections).

    A relay that finds only rows locked by the others stops; the last one standing sends the rest.
    """

    async def relay_all() -> None:
        while await relay_claimed(rt.db, sink, batch=4):
            pass

    await asyncio.gather(relay_all(), relay_all(), relay_all())


async def test_consumers_of_dead_processes_are_forgotten(
    rt: Runtime, redis_client: redis.asyncio.Redis, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(consumer_module, "_FORGET_IDLE_MS", 0)
    settings = stream_settings(rt, prefix, stream_partitions=2)
    calls: list[Event] = []
    monkeypatch.setitem(dispatch.HANDLERS, "test.record", [recording(calls)])
    await build_stream_sink(redis_client, settings).publish([Event(id=1, topic="test.record", key=0)])
    ghost = Consumer(redis_client, rt.workers, settings, "ghost")
    assert await ghost.run_once(block_ms=0) == 1  # joins the group, then its process dies
    names: Any = await redis_client.xinfo_consumers(ghost.layout.stream_of(0), GROUP)
    assert b"ghost" in {c["name"] for c in names}
    await asyncio.sleep(0.01)
    alive = Consumer(redis_client, rt.workers, settings, "alive", block_ms=10)
    task = asyncio.create_task(alive.run_forever())
    for _ in range(MAX_ROUNDS):
        names = await redis_client.xinfo_consumers(alive.layout.stream_of(0), GROUP)
        if b"ghost" not in {c["name"] for c in names}:
            break
        await asyncio.sleep(0.01)
    alive.stop()
    await asyncio.wait_for(task, timeout=10)
    for stream in alive.layout.streams:
        names = await redis_client.xinfo_consumers(stream, GROUP)
        assert b"ghost" not in {c["name"] for c in names}


async def test_a_round_acknowledges_what_it_handled_in_one_round_trip_despite_an_outage(
    rt: Runtime,
    redis_client: redis.asyncio.Redis,
    prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    round_trips: Callable[[], int],
) -> None:
    calls: list[Event] = []

    async def down(ctx: WorkerContext, event: Event) -> None:
        raise Unavailable("the database is unavailable")

    monkeypatch.setitem(dispatch.HANDLERS, "test.record", [recording(calls)])
    monkeypatch.setitem(dispatch.HANDLERS, "test.down", [down])
    settings = stream_settings(rt, prefix, stream_partitions=16)
    sink = build_stream_sink(redis_client, settings)
    await sink.publish([Event(id=i, topic="test.record", key=i) for i in range(6)])
    consumer = Consumer(redis_client, rt.workers, settings, "c1")
    await consumer.ensure_groups()
    before = round_trips()
    assert await consumer.run_once(block_ms=0) == 6
    # Claiming stuck entries, reading new ones, acknowledging six: three round trips.
    assert round_trips() - before == 3
    assert len(calls) == 6
    assert await pending_count(redis_client, sink.layout) == 0

    # Entries handled in a round that ends with another partition's outage are acknowledged too.
    await sink.publish([Event(id=10, topic="test.record", key=1), Event(id=11, topic="test.down", key=2)])
    with pytest.raises(Unavailable):
        await consumer.run_once(block_ms=0)
    assert await pending_count(redis_client, sink.layout) == 1  # only the one that met the outage
