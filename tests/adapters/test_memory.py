"""The in-process post cache: bounded, most recently used kept, and filled from a shared cache."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from roost.adapters.memory import LayeredPostCache, MemoryPostCache


def _entry(n: int) -> dict[str, Any]:
    return {"content": f"post {n}"}


async def test_keeps_the_most_recently_used_entries_up_to_its_capacity() -> None:
    cache = MemoryPostCache(3)
    await cache.put({1: _entry(1), 2: _entry(2), 3: _entry(3)})
    assert await cache.get([1]) == {1: _entry(1)}  # 1 is now the most recently used
    await cache.put({4: _entry(4)})
    assert await cache.get([1, 2, 3, 4]) == {1: _entry(1), 3: _entry(3), 4: _entry(4)}
    assert len(cache) == 3


async def test_a_cache_of_size_zero_keeps_nothing() -> None:
    cache = MemoryPostCache(0)
    await cache.put({1: _entry(1)})
    assert await cache.get([1]) == {}


async def test_forgotten_entries_are_misses() -> None:
    cache = MemoryPostCache(10)
    await cache.put({1: _entry(1), 2: _entry(2)})
    await cache.forget_posts([1])
    assert await cache.get([1, 2]) == {2: _entry(2)}


class _Shared:
    def __init__(self) -> None:
        self.entries: dict[int, Mapping[str, Any]] = {}
        self.asked: list[list[int]] = []
        self.forgotten: list[int] = []

    async def get(self, post_ids: Sequence[int]) -> dict[int, Mapping[str, Any]]:
        self.asked.append(list(post_ids))
        return {i: self.entries[i] for i in post_ids if i in self.entries}

    def peek(self, post_ids: Sequence[int]) -> dict[int, Mapping[str, Any]]:
        return {}  # a shared store holds nothing in this process

    async def put(self, posts: Mapping[int, Mapping[str, Any]]) -> None:
        self.entries.update(posts)

    async def forget_posts(self, post_ids: Sequence[int]) -> None:
        self.forgotten.extend(post_ids)
        for i in post_ids:
            self.entries.pop(i, None)


async def test_layered_asks_the_shared_cache_only_for_local_misses_and_keeps_its_answers() -> None:
    shared = _Shared()
    shared.entries[2] = _entry(2)
    layered = LayeredPostCache(MemoryPostCache(10), shared)
    await layered.put({1: _entry(1)})
    assert shared.entries[1] == _entry(1)  # fills reach both levels
    assert await layered.get([1, 2, 3]) == {1: _entry(1), 2: _entry(2)}
    assert shared.asked == [[2, 3]]
    assert await layered.get([2]) == {2: _entry(2)}
    assert shared.asked == [[2, 3]]  # 2 came from this process the second time
    await layered.forget_posts([2])
    assert shared.forgotten == [2]
    assert await layered.get([2]) == {}


async def test_peek_answers_from_this_process_alone() -> None:
    shared = _Shared()
    shared.entries[2] = _entry(2)
    layered = LayeredPostCache(MemoryPostCache(10), shared)
    await layered.put({1: _entry(1)})
    assert layered.peek([1, 2, 3]) == {1: _entry(1)}
    assert shared.asked == []  # no round trip, even for misses the shared store holds
    await layered.get([2])
    assert layered.peek([2]) == {2: _entry(2)}  # what a get brought is here now


async def test_peek_counts_as_a_use_for_the_memory_cache() -> None:
    cache = MemoryPostCache(2)
    await cache.put({1: _entry(1), 2: _entry(2)})
    assert cache.peek([1]) == {1: _entry(1)}
    await cache.put({3: _entry(3)})  # evicts the least recently used: 2, not the peeked 1
    assert cache.peek([1, 2, 3]) == {1: _entry(1), 3: _entry(3)}
