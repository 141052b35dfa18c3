"""RedisRealtimeHub against a real Redis: delivery across processes, replay, resets, presence, limits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio

from roost.adapters.embedded.realtime import RealtimeLimits
from roost.adapters.redis.realtime import RedisRealtimeHub
from roost.core.errors import RateLimited
from roost.ports import LiveStream, Outgoing, StreamClosed, StreamEvent

WAIT = 10.0  # bound on every wait; never an assertion about speed


class DeafHub(RedisRealtimeHub):
    """Publishes to a channel nobody listens to: a pub/sub message lost on the way."""

    def channel(self, user_id: int) -> str:
        return f"{self.prefix}:nowhere"


@pytest.fixture
async def hubs(client: redis.asyncio.Redis, prefix: str) -> AsyncIterator[list[RedisRealtimeHub]]:
    """Two hubs on one prefix: two API processes."""
    made = [RedisRealtimeHub(client, prefix=prefix, limits=RealtimeLimits(streams_per_user=2)) for _ in "ab"]
    yield made
    for hub in made:
        await hub.close()


async def next_event(stream: LiveStream) -> StreamEvent:
    event = await stream.next(WAIT)
    assert event is not None, "no event within the wait bound"
    return event


async def closed_reason(stream: LiveStream) -> str:
    """Reads the stream until the server closes it."""
    async with asyncio.timeout(WAIT):
        while True:
            try:
                await stream.next(WAIT)
            except StreamClosed as e:
                return str(e)


async def test_event_published_in_one_process_reaches_a_stream_in_another(
    hubs: list[RedisRealtimeHub],
) -> None:
    writer, holder = hubs
    stream = await holder.open(7, last_event_id=None)
    assert await writer.online([7, 8]) == {7}
    await writer.publish([Outgoing(7, "feed.post", {"postId": "1"}), Outgoing(8, "feed.post", {})])
    event = await next_event(stream)
    assert (event.event, event.data) == ("feed.post", {"postId": "1"})
    assert await writer.publish_to_user(7, "notification", {"type": "like"})
    follow_up = await next_event(stream)
    assert (follow_up.event, follow_up.id) == ("notification", event.id + 1)


async def test_offline_users_cost_nothing(hubs: list[RedisRealtimeHub], client: redis.asyncio.Redis) -> None:
    hub = hubs[0]
    assert not await hub.publish_to_user(42, "notification", {})
    assert [k async for k in client.scan_iter(match=f"{hub.prefix}:*{{42}}")] == []


async def test_reconnect_replays_exactly_the_missed_events(hubs: list[RedisRealtimeHub]) -> None:
    writer, holder = hubs
    stream = await holder.open(7, last_event_id=None)
    await writer.publish([Outgoing(7, "feed.post", {"n": 1})])
    seen = await next_event(stream)
    await stream.aclose()
    # Still present for a while after the disconnect, so events keep being buffered.
    await writer.publish([Outgoing(7, "feed.post", {"n": 2}), Outgoing(7, "feed.post", {"n": 3})])
    resumed = await writer.open(7, last_event_id=seen.id)
    replayed = [await next_event(resumed), await next_event(resumed)]
    assert [(e.id, e.data["n"]) for e in replayed] == [(seen.id + 1, 2), (seen.id + 2, 3)]
    assert await resumed.next(0.05) is None  # nothing else: no duplicate, no reset


async def test_gap_beyond_the_buffer_and_foreign_ids_reset(client: redis.asyncio.Redis, prefix: str) -> None:
    hub = RedisRealtimeHub(client, prefix=prefix, limits=RealtimeLimits(replay_size=2))
    try:
        stream = await hub.open(7, last_event_id=None)
        await hub.publish([Outgoing(7, "feed.post", {"n": 0})])
        seen = await next_event(stream)
        await stream.aclose()
        await hub.publish([Outgoing(7, "feed.post", {"n": n}) for n in (1, 2, 3)])
        resumed = await hub.open(7, last_event_id=seen.id)
        reset = await next_event(resumed)
        assert (reset.event, reset.id) == ("reset", seen.id + 3)
        await resumed.aclose()
        forged = await hub.open(7, last_event_id=seen.id + 1000)
        assert (await next_event(forged)).event == "reset"
        await forged.aclose()
        # A user who was not present at all may have missed anything.
        stranger = await hub.open(8, last_event_id=5)
        assert (await next_event(stranger)).event == "reset"
    finally:
        await hub.close()


async def test_lost_pubsub_message_is_recovered_from_the_buffer(
    hubs: list[RedisRealtimeHub], client: redis.asyncio.Redis, prefix: str
) -> None:
    writer, holder = hubs
    deaf = DeafHub(client, prefix=prefix)
    stream = await holder.open(7, last_event_id=None)
    await deaf.publish([Outgoing(7, "feed.post", {"n": 1})])
    await writer.publish([Outgoing(7, "feed.post", {"n": 2})])
    # The second message shows a gap; the stream fills it from the buffer, in order.
    assert [(await next_event(stream)).data["n"] for _ in range(2)] == [1, 2]
    await deaf.publish([Outgoing(7, "feed.post", {"n": 3})])
    await stream.heartbeat()  # with no later message, the heartbeat catches up
    assert (await next_event(stream)).data["n"] == 3


async def test_connection_limit_holds_across_processes(hubs: list[RedisRealtimeHub]) -> None:
    first, second = hubs
    streams = [await first.open(7, last_event_id=None), await second.open(7, last_event_id=None)]
    with pytest.raises(RateLimited):
        await first.open(7, last_event_id=None)
    await streams[0].aclose()
    streams.append(await first.open(7, last_event_id=None))


async def test_presence_lists_online_users_until_it_expires(client: redis.asyncio.Redis, prefix: str) -> None:
    hub = RedisRealtimeHub(client, prefix=prefix, limits=RealtimeLimits(presence_seconds=0.2))
    try:
        # 3, 19 and 35 share a presence bucket larger than a batch (scanned); 4 is alone in one.
        streams = [await hub.open(user, last_event_id=None) for user in (3, 19, 35, 4)]
        batches = [batch async for batch in hub.online_users(batch=2)]
        assert sorted(u for batch in batches for u in batch) == [3, 4, 19, 35]
        assert all(len(batch) <= 2 for batch in batches)
        for stream in streams:
            await stream.aclose()
        await asyncio.sleep(0.3)  # past the presence expiry (wall clock, not speed)
        assert await hub.online([3, 19, 35, 4]) == set()
        assert [u async for batch in hub.online_users(batch=2) for u in batch] == []
        # ... and that look swept the expired entries away (their buckets are gone).
        assert [key async for key in client.scan_iter(f"{hub.prefix}:rton:*")] == []
    finally:
        await hub.close()


async def test_slow_consumer_is_cut_off_and_close_ends_streams(
    client: redis.asyncio.Redis, prefix: str
) -> None:
    hub = RedisRealtimeHub(client, prefix=prefix, limits=RealtimeLimits(queue_size=1))
    slow = await hub.open(7, last_event_id=None)
    fine = await hub.open(8, last_event_id=None)
    await hub.publish([Outgoing(7, "feed.post", {"n": n}) for n in range(3)] + [Outgoing(8, "feed.post", {})])
    assert (await next_event(fine)).event == "feed.post"
    assert await closed_reason(slow) == "slow consumer"
    await hub.close()
    assert await closed_reason(fine) == "server shutting down"


async def test_sequence_keeps_growing_after_the_buffer_expires(
    hubs: list[RedisRealtimeHub], client: redis.asyncio.Redis
) -> None:
    hub = hubs[0]
    stream = await hub.open(7, last_event_id=None)
    await hub.publish([Outgoing(7, "feed.post", {})])
    before = await next_event(stream)
    await stream.aclose()
    await client.delete(f"{hub.prefix}:rtseq:{{7}}", f"{hub.prefix}:rtbuf:{{7}}")
    await hub.publish([Outgoing(7, "feed.post", {})])
    resumed = await hub.open(7, last_event_id=before.id)
    reset = await next_event(resumed)
    assert reset.event == "reset"
    assert reset.id > before.id
