"""RedisRecentPosts against a real Redis: completeness floors, races with fill, cap, one round trip."""

from __future__ import annotations

import random
from collections.abc import Callable

import redis.asyncio
from hypothesis import given
from hypothesis import strategies as st

from roost.adapters.redis import idsets
from roost.adapters.redis.keys import Keys
from roost.adapters.redis.recent import RedisRecentPosts, _newest_of

BIG = 1 << 62


def recent_posts(client: redis.asyncio.Redis, prefix: str, cap: int = 10) -> RedisRecentPosts:
    return RedisRecentPosts(client, prefix=prefix, cap=cap)


async def test_missing_list_is_none(client: redis.asyncio.Redis, prefix: str) -> None:
    r = recent_posts(client, prefix)
    assert await r.recent([1, 2], before=None, floor=0, limit=5) == {1: None, 2: None}
    assert await r.recent([], before=None, floor=0, limit=5) == {}


async def test_added_posts_alone_are_not_trusted(client: redis.asyncio.Redis, prefix: str) -> None:
    r = recent_posts(client, prefix)
    await r.add(1, BIG + 5)
    assert await r.recent([1], before=None, floor=0, limit=5) == {1: None}


async def test_complete_fill(client: redis.asyncio.Redis, prefix: str) -> None:
    r = recent_posts(client, prefix)
    await r.fill(1, [BIG + 1, BIG + 3, BIG + 2], complete=True)
    assert await r.recent([1], before=None, floor=0, limit=5) == {1: [BIG + 3, BIG + 2, BIG + 1]}
    assert await r.recent([1], before=BIG + 3, floor=0, limit=5) == {1: [BIG + 2, BIG + 1]}
    assert await r.recent([1], before=None, floor=BIG + 2, limit=5) == {1: [BIG + 3, BIG + 2]}
    await r.add(1, BIG + 4)
    await r.remove(1, BIG + 2)
    assert await r.recent([1], before=None, floor=0, limit=5) == {1: [BIG + 4, BIG + 3, BIG + 1]}
    await r.fill(2, [], complete=True)
    assert await r.recent([2], before=None, floor=0, limit=5) == {2: []}


async def test_partial_fill_is_complete_down_to_its_oldest_id(
    client: redis.asyncio.Redis, prefix: str
) -> None:
    r = recent_posts(client, prefix)
    await r.fill(1, [50, 60, 70], complete=False)
    assert await r.recent([1], before=None, floor=55, limit=5) == {1: [70, 60]}
    assert await r.recent([1], before=None, floor=50, limit=5) == {1: [70, 60, 50]}
    # Older posts may exist below 50: not enough ids to answer exactly.
    assert await r.recent([1], before=None, floor=40, limit=5) == {1: None}
    # A full page above the floor is exact all the same.
    assert await r.recent([1], before=None, floor=40, limit=2) == {1: [70, 60]}
    assert await r.recent([1], before=65, floor=40, limit=2) == {1: [60, 50]}
    assert await r.recent([1], before=55, floor=40, limit=2) == {1: None}
    # An empty partial fill says nothing.
    await r.fill(2, [], complete=False)
    assert await r.recent([2], before=None, floor=0, limit=5) == {2: None}
    # A later, deeper fill lowers the floor of the union.
    await r.fill(1, [40, 45, 50], complete=False)
    assert await r.recent([1], before=None, floor=40, limit=5) == {1: [70, 60, 50, 45, 40]}


async def test_post_added_during_fill_survives(client: redis.asyncio.Redis, prefix: str) -> None:
    r = recent_posts(client, prefix)
    # A reader read [50, 60, 70] from the database, then post 100 was created and added.
    await r.add(1, 100)
    await r.fill(1, [50, 60, 70], complete=False)
    assert await r.recent([1], before=None, floor=50, limit=10) == {1: [100, 70, 60, 50]}


async def test_cap_raises_floor(client: redis.asyncio.Redis, prefix: str) -> None:
    r = recent_posts(client, prefix, cap=5)
    await r.fill(1, [1, 2, 3], complete=True)
    for post_id in range(10, 20):
        await r.add(1, post_id)
    key = Keys(prefix).recent(1)
    assert await client.zcard(key) == 5
    assert await r.recent([1], before=None, floor=0, limit=10) == {1: None}
    assert await r.recent([1], before=None, floor=15, limit=10) == {1: [19, 18, 17, 16, 15]}
    assert await r.recent([1], before=None, floor=0, limit=3) == {1: [19, 18, 17]}
    # Too old to enter: the floor stays at 15.
    await r.add(1, 4)
    assert await r.recent([1], before=None, floor=15, limit=10) == {1: [19, 18, 17, 16, 15]}


async def test_trim_while_pending_limits_the_fill(client: redis.asyncio.Redis, prefix: str) -> None:
    r = recent_posts(client, prefix, cap=3)
    for post_id in (100, 101, 102, 103):
        await r.add(1, post_id)
    # 100 was trimmed before the fill landed: the list cannot claim completeness below 101.
    await r.fill(1, [90, 95, 99], complete=False)
    assert await r.recent([1], before=None, floor=0, limit=10) == {1: None}
    assert await r.recent([1], before=None, floor=101, limit=10) == {1: [103, 102, 101]}


async def test_fill_replaces_garbage_without_meta(client: redis.asyncio.Redis, prefix: str) -> None:
    r = recent_posts(client, prefix)
    await r.fill(1, [10, 20], complete=True)
    await client.delete(Keys(prefix).recent_meta(1))
    await r.fill(1, [30], complete=False)
    assert await r.recent([1], before=None, floor=30, limit=10) == {1: [30]}
    assert await client.zcard(Keys(prefix).recent(1)) == 1


async def test_many_authors_in_one_round_trip(
    client: redis.asyncio.Redis, prefix: str, round_trips: Callable[[], int]
) -> None:
    r = recent_posts(client, prefix)
    for author in range(0, 50, 2):
        await r.fill(author, [author * 10 + 1, author * 10 + 2], complete=True)
    await r.recent([0], before=None, floor=0, limit=1)  # script loaded now
    before = round_trips()
    got = await r.recent([*range(50), 4], before=None, floor=0, limit=5)
    assert round_trips() - before == 1
    assert len(got) == 50
    for author in range(50):
        assert got[author] == ([author * 10 + 2, author * 10 + 1] if author % 2 == 0 else None)


async def test_newest_merges_the_lists_in_redis_as_the_per_author_reads_would(
    client: redis.asyncio.Redis, prefix: str, round_trips: Callable[[], int]
) -> None:
    """Standalone Redis merges a page's authors in one script; the result is what merging their
    separate answers gives: the `limit` newest ids, and the authors whose lists cannot answer."""
    rng = random.Random(5)
    r = recent_posts(client, prefix, cap=50)
    authors = list(range(1, 13))
    for author in authors[:-3]:  # the last three have no list (or only a pending one)
        ids = rng.sample(range(BIG, BIG + 10_000), rng.randint(0, 30))
        await r.fill(author, ids, complete=rng.random() < 0.5)
    await r.add(authors[-1], BIG + 20_000)
    await r.newest(authors, before=None, floor=0, limit=1)  # loads the script (NOSCRIPT costs a trip)
    for before, floor, limit in [(None, 0, 10), (BIG + 5_000, 0, 7), (None, BIG + 2_000, 40), (None, 0, 1)]:
        lists = await r.recent(authors, before=before, floor=floor, limit=limit)
        expected = sorted({i for ids in lists.values() if ids for i in ids}, reverse=True)[:limit]
        cannot = [a for a, ids in lists.items() if ids is None]
        started = round_trips()
        assert await r.newest(authors, before=before, floor=floor, limit=limit) == (expected, cannot)
        assert round_trips() - started == 1
    assert await r.newest([], before=None, floor=0, limit=5) == ([], [])


@given(
    lists=st.lists(st.one_of(st.none(), st.sets(st.integers(0, 2**63 - 1), max_size=30)), max_size=12),
    limit=st.integers(0, 40),
)
def test_the_newest_of_sorted_lists_are_those_of_their_union(
    lists: list[set[int] | None], limit: int
) -> None:
    """Each author's ids are its own: the lists never share an id."""
    seen: set[int] = set()
    replies: list[list[bytes] | None] = []
    for ids in lists:
        if ids is None:
            replies.append(None)
            continue
        own = sorted(ids - seen, reverse=True)
        seen.update(own)
        replies.append([idsets.pack(i) for i in own])
    expected = sorted(seen, reverse=True)[:limit]
    assert [idsets.unpack(m) for m in _newest_of(replies, limit)] == expected
