"""Fan-out's overlap of follower paging with pushes: order, overlap, and clean failure."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from roost.workers.fanout import _overlapped, _with_author

# Guards against a hang if the overlap were lost; never reached when the code is right.
DEADLOCK_GUARD = 10.0


async def test_each_push_overlaps_the_next_page_and_results_keep_order() -> None:
    next_page_requested = asyncio.Event()
    running: list[int] = []
    done: list[int] = []

    async def pages() -> AsyncIterator[list[int]]:
        yield [1, 2]
        next_page_requested.set()
        yield [3]
        yield [4, 5, 6]

    async def push(batch: list[int]) -> int:
        running.append(batch[0])
        assert len(running) - len(done) == 1, "two pushes at once"
        if batch[0] == 1:
            # Finishes only once the next page is being fetched: a sequential loop would hang here.
            await next_page_requested.wait()
        done.append(batch[0])
        return len(batch)

    assert await asyncio.wait_for(_overlapped(pages(), push), DEADLOCK_GUARD) == [2, 1, 3]
    assert done == [1, 3, 4]


async def test_failed_paging_cancels_the_running_push() -> None:
    cancelled = asyncio.Event()

    async def pages() -> AsyncIterator[list[int]]:
        yield [1]
        await asyncio.sleep(0)
        raise RuntimeError("database went away")

    async def push(batch: list[int]) -> int:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return 0

    with pytest.raises(RuntimeError, match="database went away"):
        await asyncio.wait_for(_overlapped(pages(), push), DEADLOCK_GUARD)
    assert cancelled.is_set()


async def test_failed_push_is_raised() -> None:
    async def pages() -> AsyncIterator[list[int]]:
        for i in range(3):
            yield [i]

    async def push(batch: list[int]) -> int:
        if batch == [1]:
            raise ConnectionError("redis went away")
        return 1

    with pytest.raises(ConnectionError, match="redis went away"):
        await _overlapped(pages(), push)


async def test_author_rides_with_the_first_batch_once() -> None:
    async def pages() -> AsyncIterator[list[int]]:
        yield [1, 5, 9]  # the author among their own followers: a self-follow row
        yield [10, 11]

    batches = [batch async for batch in _with_author(5, pages())]
    assert batches == [[5, 1, 9], [10, 11]]
    # Each owner once across the run's batches, as a run's pushes require.
    owners = [o for batch in batches for o in batch]
    assert len(owners) == len(set(owners))

    async def no_followers() -> AsyncIterator[list[int]]:
        return
        yield

    assert [batch async for batch in _with_author(5, no_followers())] == [[5]]
