"""The SQLite write lock: one holder at a time, urgent (fan-out) waiters first, cancellation-safe."""

from __future__ import annotations

import asyncio

import pytest

from roost.adapters.sql.write_lock import WriteLock, urgent_writes


async def _take(
    lock: WriteLock, name: str, order: list[str], *, urgent: bool = False, hold: float = 0
) -> None:
    if urgent:
        urgent_writes()
    async with lock.held():
        order.append(name)
        await asyncio.sleep(hold)


async def test_urgent_waiters_go_before_ordinary_ones_and_each_lane_is_fifo() -> None:
    lock, order = WriteLock(), list[str]()
    first = asyncio.create_task(_take(lock, "holder", order, hold=0.05))
    await asyncio.sleep(0.01)
    tasks = [
        asyncio.create_task(_take(lock, "post-1", order)),
        asyncio.create_task(_take(lock, "post-2", order)),
        asyncio.create_task(_take(lock, "fanout-1", order, urgent=True)),
        asyncio.create_task(_take(lock, "fanout-2", order, urgent=True)),
    ]
    await asyncio.gather(first, *tasks)
    assert order == ["holder", "fanout-1", "fanout-2", "post-1", "post-2"]


async def test_one_holder_at_a_time() -> None:
    lock, inside, most = WriteLock(), 0, 0

    async def work(urgent: bool) -> None:
        nonlocal inside, most
        if urgent:
            urgent_writes()
        for _ in range(20):
            async with lock.held():
                inside += 1
                most = max(most, inside)
                await asyncio.sleep(0)
                inside -= 1

    await asyncio.gather(*(work(i % 3 == 0) for i in range(9)))
    assert most == 1


async def test_a_cancelled_waiter_neither_holds_nor_blocks_the_lock() -> None:
    lock, order = WriteLock(), list[str]()
    holder = asyncio.create_task(_take(lock, "holder", order, hold=0.05))
    await asyncio.sleep(0.01)
    doomed = asyncio.create_task(_take(lock, "doomed", order))
    after = asyncio.create_task(_take(lock, "after", order))
    await asyncio.sleep(0.01)
    doomed.cancel()
    await holder
    await after
    with pytest.raises(asyncio.CancelledError):
        await doomed
    assert order == ["holder", "after"]
    async with lock.held():  # free again
        pass
