"""RedisTimelineStore against a real Redis: port semantics, cap and floor, encoding and memory."""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
import redis.asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY
from redis.asyncio.connection import AbstractConnection
from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from tests.adapters.redis.conftest import delete_prefix

from roost.adapters.redis import timelines
from roost.adapters.redis.idsets import pack, unpack
from roost.adapters.redis.keys import Keys
from roost.adapters.redis.recent import RedisRecentPosts
from roost.adapters.redis.timelines import RedisTimelineStore
from roost.core.ids import id_floor_for, id_to_datetime
from roost.ports import PENDING_FLOOR, TimelineWindow, trim_slack

BIG = 1 << 62  # ids in the 63-bit range, beyond what a double holds exactly


def store(
    client: redis.asyncio.Redis, prefix: str, cap: int = 10, *, cluster: bool = False
) -> RedisTimelineStore:
    return RedisTimelineStore(client, prefix=prefix, cap=cap, cluster=cluster)


async def materialize(s: RedisTimelineStore, owner: int, ids: Sequence[int] = (), floor: int = 0) -> None:
    await s.begin_rebuild(owner)
    await s.finish_rebuild(owner, ids, floor)


async def test_window_of_missing_timeline_is_none(client: redis.asyncio.Redis, prefix: str) -> None:
    assert await store(client, prefix).window(1, before=None, limit=20) is None


async def test_empty_materialized_timeline(client: redis.asyncio.Redis, prefix: str) -> None:
    s = store(client, prefix)
    await materialize(s, 1)
    assert await s.window(1, before=None, limit=20) == TimelineWindow([], 0)


@pytest.mark.parametrize("cluster", [False, True], ids=["standalone", "cluster"])
async def test_push_only_into_materialized(client: redis.asyncio.Redis, prefix: str, cluster: bool) -> None:
    s = store(client, prefix, cluster=cluster)
    await materialize(s, 1)
    await materialize(s, 3)
    assert await s.push(BIG + 7, [1, 2, 3]) == 2
    assert await s.window(1, before=None, limit=20) == TimelineWindow([BIG + 7], 0)
    assert await s.window(2, before=None, limit=20) is None
    assert await client.exists(Keys(prefix).timeline(2)) == 0
    # Idempotent: a redelivered event adds nothing.
    assert await s.push(BIG + 7, [1, 2, 3]) == 0
    assert await s.push(BIG + 8, []) == 0


async def test_ids_order_exactly_beyond_double_precision(client: redis.asyncio.Redis, prefix: str) -> None:
    s = store(client, prefix, cap=100)
    ids = [BIG + 1, BIG + 2, BIG + 3, 5, 256, 1 << 40, PENDING_FLOOR - 1]
    await materialize(s, 1, ids)
    w = await s.window(1, before=None, limit=100)
    assert w == TimelineWindow(sorted(ids, reverse=True), 0)
    assert await s.window(1, before=BIG + 3, limit=2) == TimelineWindow([BIG + 2, BIG + 1], 0)
    assert await s.window(1, before=6, limit=10) == TimelineWindow([5], 0)
    assert await s.window(1, before=0, limit=10) == TimelineWindow([], 0)
    assert await s.window(1, before=1 << 70, limit=1) == TimelineWindow([PENDING_FLOOR - 1], 0)
    assert await s.window(1, before=None, limit=0) == TimelineWindow([], 0)


@pytest.mark.parametrize("cluster", [False, True], ids=["standalone", "cluster"])
async def test_cap_and_floor_after_many_pushes(
    client: redis.asyncio.Redis, prefix: str, cluster: bool
) -> None:
    cap = 10
    limit = cap + trim_slack(cap)
    s = store(client, prefix, cap=cap, cluster=cluster)
    await materialize(s, 1)
    ids = [BIG + i for i in range(1, 51)]
    rng = random.Random(1)
    rng.shuffle(ids)
    pushed: list[int] = []
    trims = 0
    previous_floor = 0
    for post_id in ids:
        await s.push(post_id, [1])
        pushed.append(post_id)
        w = await s.window(1, before=None, limit=100)
        assert w is not None
        # Every retained id >= floor, the floor is the smallest retained one once anything was
        # trimmed, and nothing at or above the floor is lost.
        assert w.post_ids == sorted((p for p in pushed if p >= w.floor), reverse=True)
        assert len(w.post_ids) <= limit
        if w.floor != previous_floor:
            trims += 1
            assert len(w.post_ids) == cap  # trimmed back to the cap, not by one
            assert w.floor == min(w.post_ids) > previous_floor
            previous_floor = w.floor
        assert await client.llen(Keys(prefix).timeline(1)) == len(w.post_ids)
    assert trims >= 2
    w = await s.window(1, before=None, limit=100)
    assert w is not None
    assert w.post_ids[0] == BIG + 50
    # Older than the floor: cannot enter, the floor stays.
    assert await s.push(w.floor - 1, [1]) == 0
    assert await s.window(1, before=None, limit=100) == w


@pytest.mark.parametrize("cluster", [False, True], ids=["standalone", "cluster"])
async def test_a_late_post_takes_its_place_and_a_full_timeline_keeps_the_newest(
    client: redis.asyncio.Redis, prefix: str, cluster: bool
) -> None:
    """Posts fanned out concurrently reach an owner out of id order: a late one goes to its place;
    into a full timeline only the newest `cap` stay, and a late post older than all of them is not
    counted as added."""
    cap = 4
    s = store(client, prefix, cap=cap, cluster=cluster)
    await materialize(s, 1)
    held = [BIG + 10 * i for i in range(1, cap + trim_slack(cap) + 1)]  # as many as it may hold
    for post_id in held:
        assert await s.push(post_id, [1]) == 1
    assert await s.push(BIG + 15, [1]) == 0  # one too many: trimmed away with the oldest
    w = await s.window(1, before=None, limit=100)
    assert w == TimelineWindow(sorted(held, reverse=True)[:cap], held[1])
    assert await s.push(BIG + 25, [1]) == 1
    assert await s.push(BIG + 25, [1]) == 0  # held once
    w = await s.window(1, before=None, limit=100)
    assert w == TimelineWindow(sorted([*held[1:], BIG + 25], reverse=True), held[1])
    assert await client.llen(Keys(prefix).timeline(1)) == cap + 1


@pytest.mark.parametrize("cluster", [False, True], ids=["standalone", "cluster"])
async def test_a_push_below_the_floor_still_trims_a_timeline_over_a_smaller_cap(
    client: redis.asyncio.Redis, prefix: str, cluster: bool
) -> None:
    """After a restart with a smaller cap, any push trims a longer timeline to the newest ids, even
    one of a post too old to enter."""
    held = [BIG + 10 * i for i in range(1, 11)]
    await materialize(store(client, prefix, cap=10, cluster=cluster), 1, held, floor=BIG + 10)
    smaller = store(client, prefix, cap=4, cluster=cluster)
    assert await smaller.push(BIG + 5, [1]) == 0
    assert await smaller.window(1, before=None, limit=100) == TimelineWindow(
        sorted(held, reverse=True)[:4], held[-4]
    )


async def test_floor_never_decreases(client: redis.asyncio.Redis, prefix: str) -> None:
    s = store(client, prefix, cap=3)  # trimmed back to 3 past 4
    await materialize(s, 1, [10, 20, 30, 40, 50], 5)
    assert await s.window(1, before=None, limit=10) == TimelineWindow([50, 40, 30], 30)
    await s.remove(1, [50, 40])
    await s.merge(1, [1, 2, 25, 35])
    assert await s.window(1, before=None, limit=10) == TimelineWindow([35, 30], 30)


@pytest.mark.parametrize("cluster", [False, True], ids=["standalone", "cluster"])
async def test_pending_rebuild_receives_pushes(
    client: redis.asyncio.Redis, prefix: str, cluster: bool
) -> None:
    s = store(client, prefix, cluster=cluster)
    await s.begin_rebuild(1)
    assert await s.window(1, before=None, limit=20) == TimelineWindow([], PENDING_FLOOR)
    assert await s.push(100, [1]) == 1
    assert await s.window(1, before=None, limit=20) == TimelineWindow([], PENDING_FLOOR)
    await s.finish_rebuild(1, [90, 80, 100], 80)
    assert await s.window(1, before=None, limit=20) == TimelineWindow([100, 90, 80], 80)


async def test_begin_rebuild_discards_old_entries(client: redis.asyncio.Redis, prefix: str) -> None:
    s = store(client, prefix)
    await materialize(s, 1, [1, 2, 3])
    await s.begin_rebuild(1)
    await s.finish_rebuild(1, [5], 4)
    assert await s.window(1, before=None, limit=20) == TimelineWindow([5], 4)


async def test_finish_rebuild_union_and_trim(client: redis.asyncio.Redis, prefix: str) -> None:
    s = store(client, prefix, cap=5)
    await s.begin_rebuild(1)
    await s.push(50, [1])
    await s.finish_rebuild(1, [10, 20, 30, 40, 45, 48], 10)
    # Union of 7, trimmed to 5: the floor rises from 10 to the smallest kept.
    assert await s.window(1, before=None, limit=20) == TimelineWindow([50, 48, 45, 40, 30], 30)


@pytest.mark.parametrize("cluster", [False, True], ids=["standalone", "cluster"])
async def test_trim_while_pending_raises_the_final_floor(
    client: redis.asyncio.Redis, prefix: str, cluster: bool
) -> None:
    s = store(client, prefix, cap=3, cluster=cluster)
    await s.begin_rebuild(1)
    for post_id in (100, 101, 102, 103, 104):
        await s.push(post_id, [1])
    assert await s.window(1, before=None, limit=20) == TimelineWindow([], PENDING_FLOOR)
    # 100 and 101 were trimmed while pending: the rebuilt 99 must not appear to follow 102.
    await s.finish_rebuild(1, [99, 98], 98)
    assert await s.window(1, before=None, limit=20) == TimelineWindow([104, 103, 102], 102)


async def test_pending_trim_bound_survives_removals(client: redis.asyncio.Redis, prefix: str) -> None:
    s = store(client, prefix, cap=2)  # trimmed back to 2 past 3
    await s.begin_rebuild(1)
    for post_id in (10, 11, 12, 13):
        await s.push(post_id, [1])
    await s.remove(1, [13])
    # 10 and 11 were trimmed: 5 must not be listed after 12 as if nothing were missing between them.
    await s.finish_rebuild(1, [5], 0)
    assert await s.window(1, before=None, limit=20) == TimelineWindow([12], 12)


async def test_finish_rebuild_of_dropped_timeline_does_nothing(
    client: redis.asyncio.Redis, prefix: str
) -> None:
    s = store(client, prefix)
    await s.begin_rebuild(1)
    await s.drop(1)
    await s.finish_rebuild(1, [1, 2], 0)
    assert await s.window(1, before=None, limit=20) is None
    assert await client.exists(Keys(prefix).timeline(1), Keys(prefix).timeline_meta(1)) == 0


async def test_merge(client: redis.asyncio.Redis, prefix: str) -> None:
    s = store(client, prefix, cap=4)
    await s.merge(2, [1, 2])
    assert await s.window(2, before=None, limit=20) is None
    await materialize(s, 1, [10, 20], 5)
    await s.merge(1, [])
    await s.merge(1, [3, 15, 20, 25])  # 3 is below the floor: invisible, so not stored
    assert await s.window(1, before=None, limit=20) == TimelineWindow([25, 20, 15, 10], 5)
    await s.merge(1, [30, 1, 12])
    assert await s.window(1, before=None, limit=20) == TimelineWindow([30, 25, 20, 15], 15)
    # More than cap + 1 ids at once still raise the floor correctly.
    await s.merge(1, list(range(100, 120)))
    assert await s.window(1, before=None, limit=20) == TimelineWindow([119, 118, 117, 116], 116)


async def test_remove_and_remove_from_many_and_drop(client: redis.asyncio.Redis, prefix: str) -> None:
    s = store(client, prefix)
    for owner in (1, 2, 3):
        await materialize(s, owner, [10, 20, 30])
    await s.remove(1, [20, 99])
    await s.remove(1, [])
    assert await s.window(1, before=None, limit=20) == TimelineWindow([30, 10], 0)
    await s.remove_from_many(30, [1, 2, 4])
    await s.remove_from_many(30, [])
    assert await s.window(1, before=None, limit=20) == TimelineWindow([10], 0)
    assert await s.window(2, before=None, limit=20) == TimelineWindow([20, 10], 0)
    assert await s.window(3, before=None, limit=20) == TimelineWindow([30, 20, 10], 0)
    await s.remove(1, [10])
    assert await s.window(1, before=None, limit=20) == TimelineWindow([], 0)
    await s.drop(2)
    assert await s.window(2, before=None, limit=20) is None


async def test_keys_share_a_slot_per_owner() -> None:
    keys = Keys("roost")
    assert keys.timeline(42) == "roost:tl3:{42}"
    assert keys.timeline_meta(42) == "roost:tlm3:{42}"
    assert key_slot(keys.timeline(42).encode()) == key_slot(keys.timeline_meta(42).encode())
    assert key_slot(keys.recent(42).encode()) == key_slot(keys.recent_meta(42).encode())
    assert key_slot(keys.timeline(42).encode()) != key_slot(keys.timeline(43).encode())
    for bad in ("", "a{b", "a}"):
        with pytest.raises(ValueError, match="prefix"):
            Keys(bad)


async def test_rejects_decoding_client() -> None:
    client = redis.asyncio.Redis(decode_responses=True)
    with pytest.raises(ValueError, match="decode_responses"):
        RedisTimelineStore(client, prefix="x", cap=10)
    await client.aclose()


async def test_full_timeline_is_compact(client: redis.asyncio.Redis, prefix: str) -> None:
    cap = 800
    s = store(client, prefix, cap=cap)
    await materialize(s, 1, [BIG + i for i in range(cap)])
    for i in range(cap, cap + 50):
        await s.push(BIG + i, [1])
    await s.merge(1, [BIG + i for i in range(cap + 50, cap + 300)])
    key = Keys(prefix).timeline(1)
    assert await client.llen(key) == cap
    assert await client.object("ENCODING", key) in (b"quicklist", b"listpack")
    usage = await client.memory_usage(key)
    assert usage is not None
    per_entry = usage / cap
    print(f"\nMEMORY USAGE {usage} bytes for {cap} entries: {per_entry:.2f} bytes/entry")
    assert per_entry <= 21
    window = await s.window(1, before=None, limit=cap)
    assert window == TimelineWindow([BIG + i for i in range(cap + 299, 299, -1)], BIG + 300)


async def test_ensure_server_config_warns_when_refused(
    client: redis.asyncio.Redis, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    user, password = f"{prefix}-user", uuid.uuid4().hex
    await client.acl_setuser(
        user, enabled=True, passwords=[f"+{password}"], keys=["*"], commands=["+@all", "-config"]
    )
    limited = redis.asyncio.Redis(host="127.0.0.1", port=6379, username=user, password=password)
    try:
        with caplog.at_level(logging.WARNING):
            assert not await RedisRecentPosts(limited, prefix=prefix, cap=1 << 30).ensure_server_config()
        assert "zset-max-listpack-entries" in caplog.text
    finally:
        await limited.aclose()
        await client.acl_deluser(user)


async def test_push_batch_is_one_round_trip(
    client: redis.asyncio.Redis, prefix: str, round_trips: Callable[[], int]
) -> None:
    s = store(client, prefix)
    owners = list(range(200))
    for owner in owners[::2]:
        await materialize(s, owner)
    await s.push(1, owners)  # scripts loaded now
    before = round_trips()
    assert await s.push(2, owners) == 100
    assert round_trips() - before == 1
    before = round_trips()
    await s.remove_from_many(2, owners)
    assert round_trips() - before == 1
    before = round_trips()
    assert await s.window(0, before=None, limit=5) == TimelineWindow([1], 0)
    assert round_trips() - before == 1


@pytest.mark.parametrize("cluster", [False, True], ids=["standalone", "cluster"])
async def test_push_survives_script_flush(client: redis.asyncio.Redis, prefix: str, cluster: bool) -> None:
    s = store(client, prefix, cluster=cluster)
    await materialize(s, 1)
    await materialize(s, 2)
    await client.script_flush()
    assert await s.push(5, [1, 2, 3]) == 2
    assert await s.window(2, before=None, limit=5) == TimelineWindow([5], 0)


async def _push_states(s: RedisTimelineStore, owners: int) -> None:
    """Owners in every state a push meets, cap 3: missing, empty, full above or below, pending."""
    for owner in range(owners):
        kind = owner % 5
        if kind == 1:
            await materialize(s, owner)
        elif kind == 2:
            await materialize(s, owner, [BIG + 60, BIG + 70, BIG + 80], BIG + 5)
        elif kind == 3:
            await materialize(s, owner, [BIG + 10, BIG + 20, BIG + 30], BIG + 5)
        elif kind == 4:
            await s.begin_rebuild(owner)
            for post_id in (BIG + 40, BIG + 41, BIG + 42, BIG + 43):
                await s.push(post_id, [owner])


async def test_batched_push_matches_one_call_per_owner(
    client: redis.asyncio.Redis, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small script calls, so one push spans several of them.
    monkeypatch.setattr(timelines, "PUSH_CHUNK", 4)
    owners = 23
    batched = store(client, prefix, cap=3)
    per_owner = store(client, f"{prefix}-cluster", cap=3, cluster=True)
    try:
        for s in (batched, per_owner):
            await _push_states(s, owners)
        for post_id in (BIG + 50, BIG + 1, BIG + 90, BIG + 50):
            assert await batched.push(post_id, range(owners)) == await per_owner.push(post_id, range(owners))
        for owner in range(owners):
            assert await batched.window(owner, before=None, limit=10) == await per_owner.window(
                owner, before=None, limit=10
            )
            tl, tl_cluster = Keys(prefix).timeline(owner), Keys(f"{prefix}-cluster").timeline(owner)
            assert await client.lrange(tl, 0, -1) == await client.lrange(tl_cluster, 0, -1)
        # Pending owners took the pushes and remember what was trimmed while pending.
        await batched.finish_rebuild(4, [BIG + 2], 0)
        # (4 pending pushes fit in cap 3 + slack 1; the fifth trimmed back to 3.)
        assert await batched.window(4, before=None, limit=10) == TimelineWindow(
            [BIG + 90, BIG + 50, BIG + 43, BIG + 42], BIG + 42
        )
    finally:
        await delete_prefix(client, f"{prefix}-cluster")


@pytest.mark.parametrize("cluster", [False, True], ids=["standalone", "cluster"])
async def test_push_reaches_owners_of_every_id_length(
    client: redis.asyncio.Redis, prefix: str, cluster: bool
) -> None:
    # The standalone push sends owners as digits and its script names their keys: every owner's
    # keys must be the ones `Keys` names, whatever the id's length.
    s = store(client, prefix, cluster=cluster)
    owners = [0, 7, 10**9 + 7, BIG + 12_345, 2**63 - 1]
    for owner in owners:
        await materialize(s, owner, [1])
    assert await s.push(BIG, [*owners, 123_456]) == len(owners)
    keys = Keys(prefix)
    for owner in owners:
        assert await s.window(owner, before=None, limit=5) == TimelineWindow([BIG, 1], 0)
        assert [unpack(cast(bytes, m)) for m in await client.lrange(keys.timeline(owner), 0, -1)] == [1, BIG]
    # An owner with no materialized timeline gets nothing, not even an empty key.
    assert not await client.exists(keys.timeline(123_456), keys.timeline_meta(123_456))


async def test_push_to_thousands_of_owners_is_one_round_trip(
    client: redis.asyncio.Redis, prefix: str, round_trips: Callable[[], int]
) -> None:
    s = store(client, prefix)
    owners = list(range(2 * timelines.PUSH_CHUNK + 500))
    for owner in (0, 1_500, len(owners) - 1):
        await materialize(s, owner)
    await s.push(1, [0])  # script loaded
    before = round_trips()
    assert await s.push(2, owners) == 3
    assert round_trips() - before == 1
    assert await s.window(len(owners) - 1, before=None, limit=5) == TimelineWindow([2], 0)


async def test_failed_script_call_leaves_the_connection_in_step(
    client: redis.asyncio.Redis, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(timelines, "PUSH_CHUNK", 1)
    s = store(client, prefix)
    for owner in (1, 2, 3):
        await materialize(s, owner)
    await client.delete(Keys(prefix).timeline(2))
    await client.set(Keys(prefix).timeline(2), b"not a sorted set")
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await s.push(5, [1, 2, 3])
    # Every reply of that batch was read: later answers belong to later commands.
    assert await s.window(3, before=None, limit=5) == TimelineWindow([5], 0)
    assert await s.push(6, [1, 3]) == 2
    assert await client.ping()


async def test_push_retries_once_after_a_dropped_connection(
    client: redis.asyncio.Redis, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = store(client, prefix)
    await materialize(s, 1)
    original = AbstractConnection.send_packed_command
    failures: list[Exception] = []

    async def flaky(self: AbstractConnection, *args: Any, **kwargs: Any) -> None:
        if failures:
            raise failures.pop()
        await original(self, *args, **kwargs)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", flaky)
    failures.append(RedisConnectionError("connection reset (simulated)"))
    assert await s.push(5, [1]) == 1  # retried on a fresh connection
    failures.extend([RedisConnectionError("down (simulated)")] * 2)
    with pytest.raises(RedisConnectionError):  # a second failure is the caller's to handle
        await s.push(6, [1])
    assert await s.window(1, before=None, limit=5) == TimelineWindow([5], 0)


@pytest.mark.parametrize("above_ceiling", [False, True], ids=["checked", "appended"])
async def test_ttl_refreshed_on_both_keys(
    client: redis.asyncio.Redis, prefix: str, above_ceiling: bool
) -> None:
    s = RedisTimelineStore(client, prefix=prefix, cap=10, ttl_seconds=1000)
    base = new_post() if above_ceiling else 1
    await materialize(s, 1, [base, base + 1])
    keys = Keys(prefix)
    for key in (keys.timeline(1), keys.timeline_meta(1)):
        await client.expire(key, 10)  # so that only the push can have set it back to 1000
    await s.push(base + 2, [1])
    assert 900 < await client.ttl(keys.timeline(1)) <= 1000
    assert 900 < await client.ttl(keys.timeline_meta(1)) <= 1000
    assert await store(client, prefix).window(1, before=None, limit=5) == TimelineWindow(
        [base + 2, base + 1, base], 0
    )


# --- The ceiling: new posts appended without a look at each list ------------------------------


def now_id(offset: timedelta = timedelta(0)) -> int:
    return id_floor_for(datetime.now(UTC) + offset)


def new_post() -> int:
    """The id of a post made after a new keyspace's ceiling margin: above the ceiling."""
    return now_id(timelines.CEILING_MARGIN + timedelta(minutes=1))


async def holding_older(s: RedisTimelineStore, owners: Sequence[int], post: int) -> None:
    """Materializes the owners' timelines, each holding one post older than `post`."""
    for owner in owners:
        await materialize(s, owner, [post - 10])


async def assert_held_once(s: RedisTimelineStore, owners: Sequence[int], post: int) -> None:
    for owner in owners:
        assert await s.window(owner, before=None, limit=5) == TimelineWindow([post, post - 10], 0)


async def test_push_above_the_ceiling_does_not_look_at_lists(
    client: redis.asyncio.Redis, prefix: str
) -> None:
    s = store(client, prefix)
    newest = new_post()
    await materialize(s, 1, [newest - 2])
    # The ceiling now covers newest - 2. A list that breaks the invariant (nothing does this but
    # the test) shows that a push above the ceiling appends without reading the list's tail ...
    await client.rpush(Keys(prefix).timeline(1), pack(newest))
    assert await s.push(newest - 1, [1]) == 1
    tail = [unpack(cast(bytes, m)) for m in await client.lrange(Keys(prefix).timeline(1), -2, -1)]
    assert tail == [newest, newest - 1]
    # ... while a push below the ceiling does read it: the id is merged into place.
    await materialize(s, 2, [newest])
    assert await s.push(newest - 3, [2]) == 1
    assert await s.window(2, before=None, limit=5) == TimelineWindow([newest, newest - 3], 0)


async def test_missing_ceiling_starts_ahead_of_every_id_made(
    client: redis.asyncio.Redis, prefix: str
) -> None:
    s = store(client, prefix)
    made = now_id()
    await materialize(s, 1, [made])
    await client.delete(Keys(prefix).timeline_ceiling())  # evicted, or written by an older version
    # A list holding the newest id (the ceiling would have covered it) still takes a late post in
    # order: ids made before the margin runs out are checked.
    ahead = now_id(timelines.CEILING_MARGIN)
    assert await s.push(made - 5, [1]) == 1
    assert await s.push(made + 1, [1]) == 1
    assert await s.window(1, before=None, limit=5) == TimelineWindow([made + 1, made, made - 5], 0)
    ceiling = unpack(cast(bytes, await client.get(Keys(prefix).timeline_ceiling()))[:8])
    assert ceiling >= ahead


def push_calls(path: str) -> float:
    return REGISTRY.get_sample_value("roost_timeline_push_calls_total", {"path": path}) or 0.0


async def test_new_ceiling_is_the_id_of_the_servers_clock_ahead(
    client: redis.asyncio.Redis, prefix: str
) -> None:
    s = store(client, prefix)
    low = now_id(timelines.CEILING_MARGIN)
    await materialize(s, 1, [5])
    high = now_id(timelines.CEILING_MARGIN + timedelta(seconds=1))
    ceiling = unpack(cast(bytes, await client.get(Keys(prefix).timeline_ceiling())))
    assert low <= ceiling <= high
    assert ceiling == id_floor_for(id_to_datetime(ceiling))  # no worker or sequence bits
    checked, appended = push_calls("checked"), push_calls("appended")
    assert await s.push(ceiling - 1, [1]) == 1  # below it: checked
    assert await s.push(ceiling + 1, [1]) == 1  # above it: appended
    assert (push_calls("checked") - checked, push_calls("appended") - appended) == (1, 1)


async def test_owner_named_twice_gets_the_post_once(
    client: redis.asyncio.Redis, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = store(client, prefix)
    post = new_post()
    await materialize(s, 1, [post - 10])
    assert await s.push(post, [1, 1, 1]) == 1
    monkeypatch.setattr(timelines, "PUSH_CHUNK", 1)  # the repeats in separate script calls
    assert await s.push(post + 1, [1, 1]) == 1
    assert await s.window(1, before=None, limit=5) == TimelineWindow([post + 1, post, post - 10], 0)


async def test_push_resent_after_it_ran_adds_nothing_twice(
    client: redis.asyncio.Redis, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The scripts ran, but their replies were lost with the connection: the resent calls must
    # not append again what the first ones appended without looking.
    monkeypatch.setattr(timelines, "PUSH_CHUNK", 1)
    s = store(client, prefix)
    post = new_post()
    await holding_older(s, [1, 2], post)
    original = AbstractConnection.read_response
    lost: list[Exception] = [RedisConnectionError("reply lost (simulated)")]

    async def flaky(self: AbstractConnection, *args: Any, **kwargs: Any) -> Any:
        reply = await original(self, *args, **kwargs)
        if lost:
            raise lost.pop()
        return reply

    monkeypatch.setattr(AbstractConnection, "read_response", flaky)
    assert await s.push(post, [1, 2], run=3) == 0  # the resent calls found the post in place
    assert not lost
    await assert_held_once(s, [1, 2], post)


async def test_redelivered_post_is_held_once(client: redis.asyncio.Redis, prefix: str) -> None:
    s = store(client, prefix)
    post = new_post()
    await holding_older(s, [1, 2, 3], post)
    assert await s.push(post, [1, 2], run=7) == 2  # the first delivery's batches ...
    assert await s.push(post, [3], run=7) == 1
    assert await s.push(post, [1, 2, 3], run=8) == 0  # ... and a redelivery, a run of its own
    assert await s.push(post, [1, 2, 3]) == 0
    await assert_held_once(s, [1, 2, 3], post)


async def test_interleaved_deliveries_of_one_post_hold_it_once(
    client: redis.asyncio.Redis, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two deliveries of one post run at once, batch by batch, one owner per script call.
    monkeypatch.setattr(timelines, "PUSH_CHUNK", 1)
    s = store(client, prefix)
    post = new_post()
    owners = [1, 2, 3, 4]
    await holding_older(s, owners, post)
    added = 0
    for batch in ([1, 2], [3, 4]):
        added += await s.push(post, batch, run=1)
        added += await s.push(post, list(reversed(owners)), run=2) if batch == [1, 2] else 0
    assert added == len(owners)
    await assert_held_once(s, owners, post)


async def test_rebuild_that_read_the_post_first_holds_it_once(
    client: redis.asyncio.Redis, prefix: str
) -> None:
    # A reader rebuilds between the post's commit and its fan-out's second batch: the rebuild
    # puts the post in from the database, and the second batch must not add it again.
    s = store(client, prefix)
    post = new_post()
    await materialize(s, 1, [post - 10])
    await materialize(s, 2, [post - 10])
    assert await s.push(post, [1], run=5) == 1
    await materialize(s, 2, [post - 10, post])
    await s.merge(2, [post])  # a follow's merge of the same post, too
    assert await s.push(post, [2], run=5) == 0
    assert await s.window(2, before=None, limit=5) == TimelineWindow([post, post - 10], 0)


async def test_merge_of_newer_posts_raises_the_ceiling(client: redis.asyncio.Redis, prefix: str) -> None:
    # A follow merges the followee's newest post into a timeline before a slightly older post of
    # someone else is fanned out: the older post must still land below it.
    s = store(client, prefix)
    first = new_post()
    await materialize(s, 1, [first - 10])
    assert await s.push(first, [1]) == 1
    await s.merge(1, [first + 20])
    assert await s.push(first + 10, [1]) == 1
    assert await s.window(1, before=None, limit=5) == TimelineWindow(
        [first + 20, first + 10, first, first - 10], 0
    )


# --- Property test against a Python model -------------------------------------------------------


@dataclass
class ModelTimeline:
    entries: set[int] = field(default_factory=set)
    floor: int = PENDING_FLOOR
    pending: bool = True
    # While pending: ids below it were trimmed away.
    bound: int = 0


class Model:
    """The specified behaviour, written the slow and obvious way."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.limit = cap + trim_slack(cap)
        self.timelines: dict[int, ModelTimeline] = {}

    def _insert(self, t: ModelTimeline, ids: Sequence[int], bound: int) -> int:
        """Held up to cap + slack; one more, and only the newest cap are kept."""
        union = t.entries | {i for i in ids if i >= bound}
        kept = set(sorted(union, reverse=True)[: self.cap]) if len(union) > self.limit else union
        added = len(kept - t.entries)
        t.entries = kept
        if len(union) > self.limit:
            if t.pending:
                t.bound = min(kept)
            else:
                t.floor = min(kept)
        return added

    def window(self, owner: int, before: int | None, limit: int) -> TimelineWindow | None:
        t = self.timelines.get(owner)
        if t is None:
            return None
        if t.pending:
            return TimelineWindow([], PENDING_FLOOR)
        ids = sorted((e for e in t.entries if before is None or e < before), reverse=True)
        return TimelineWindow(ids[:limit], t.floor)

    def push(self, post_id: int, owners: Sequence[int]) -> int:
        added = 0
        for owner in owners:
            t = self.timelines.get(owner)
            if t is not None:
                added += self._insert(t, [post_id], t.bound if t.pending else t.floor)
        return added

    def merge(self, owner: int, ids: Sequence[int]) -> None:
        t = self.timelines.get(owner)
        if t is not None:
            self._insert(t, ids, t.bound if t.pending else t.floor)

    def remove(self, owner: int, ids: Sequence[int]) -> None:
        t = self.timelines.get(owner)
        if t is not None:
            t.entries -= set(ids)

    def remove_from_many(self, post_id: int, owners: Sequence[int]) -> None:
        for owner in owners:
            self.remove(owner, [post_id])

    def begin_rebuild(self, owner: int) -> None:
        self.timelines[owner] = ModelTimeline()

    def finish_rebuild(self, owner: int, ids: Sequence[int], floor: int) -> None:
        t = self.timelines.get(owner)
        if t is None:
            return
        floor = max(floor, t.bound if t.pending else t.floor)
        t.entries = {e for e in t.entries if e >= floor}
        t.pending, t.floor = False, floor
        self._insert(t, ids, floor)

    def drop(self, owner: int) -> None:
        self.timelines.pop(owner, None)


N_OWNERS = 2
OWNERS = st.integers(0, N_OWNERS - 1)
POST_IDS = st.integers(0, 30).map(lambda i: BIG + i)
OPS = st.one_of(
    # The last element names the push's run: pushes of one post with one run are one fan-out's
    # batches (the test keeps each owner to one batch of a run); other runs are redeliveries.
    st.tuples(
        st.just("push"),
        POST_IDS,
        st.lists(OWNERS, max_size=N_OWNERS, unique=True),
        st.none() | st.integers(0, 1),
    ),
    st.tuples(st.just("merge"), OWNERS, st.lists(POST_IDS, max_size=8)),
    st.tuples(st.just("remove"), OWNERS, st.lists(POST_IDS, max_size=3)),
    st.tuples(st.just("remove_from_many"), POST_IDS, st.lists(OWNERS, max_size=N_OWNERS, unique=True)),
    st.tuples(st.just("begin_rebuild"), OWNERS),
    st.tuples(st.just("finish_rebuild"), OWNERS, st.lists(POST_IDS, max_size=8), POST_IDS),
    st.tuples(st.just("drop"), OWNERS),
    st.tuples(st.just("window"), OWNERS, st.none() | POST_IDS, st.integers(0, 6)),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cap=st.integers(1, 6),
    ops=st.lists(OPS, max_size=60),
    cluster=st.booleans(),
    chunk=st.sampled_from([1, 1000]),
)
async def test_matches_model(
    client: redis.asyncio.Redis, cap: int, ops: list[tuple[object, ...]], cluster: bool, chunk: int
) -> None:
    prefix = f"roost-test-{uuid.uuid4().hex}"
    s = store(client, prefix, cap=cap, cluster=cluster)
    model = Model(cap)
    # Owners each run has pushed to: a run's batches do not repeat an owner.
    runs: dict[tuple[object, object], set[int]] = {}
    default_chunk, timelines.PUSH_CHUNK = timelines.PUSH_CHUNK, chunk
    try:
        for op in ops:
            name, *args = op
            if name == "window":
                owner, before, limit = args
                assert isinstance(owner, int)
                assert isinstance(limit, int)
                assert before is None or isinstance(before, int)
                assert await s.window(owner, before=before, limit=limit) == model.window(
                    owner, before, limit
                ), op
            elif name == "push":
                post_id, owners, run = args
                assert isinstance(post_id, int)
                assert isinstance(owners, list)
                if run is not None:
                    done = runs.setdefault((post_id, run), set())
                    owners = [o for o in owners if o not in done]
                    done.update(owners)
                    run = hash((prefix, post_id, run)) & (2**63 - 1)
                assert isinstance(run, int | None)
                assert await s.push(post_id, owners, run=run) == model.push(post_id, owners), op
            else:
                await getattr(s, str(name))(*args)
                getattr(model, str(name))(*args)
            # The stored state, not just what windows show, must match: hidden extra entries
            # would change later trimming.
            for owner, t in model.timelines.items():
                stored = await client.lrange(Keys(prefix).timeline(owner), 0, -1)
                assert [unpack(cast(bytes, m)) for m in stored] == sorted(t.entries), op
            for owner in range(N_OWNERS):
                assert await s.window(owner, before=None, limit=100) == model.window(owner, None, 100), op
    finally:
        timelines.PUSH_CHUNK = default_chunk
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
