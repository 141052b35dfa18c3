"""Background loops stop within a bound, even when a cancellation is swallowed."""

from __future__ import annotations

import asyncio
import contextlib
import time

from roost.workers.background import stop_task


async def test_a_loop_that_swallows_cancellation_stops_on_its_flag() -> None:
    stopping = False

    async def loop() -> None:
        while not stopping:
            # What redis-py can do to a cancellation landing mid-command:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(0.01)

    task = asyncio.create_task(loop())
    await asyncio.sleep(0.02)
    stopping = True
    await stop_task(task, within=5)
    assert task.done()


async def test_a_loop_that_never_stops_does_not_hang_the_caller() -> None:
    held = True

    async def stubborn() -> None:
        while held:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(0.01)

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0.02)  # running, inside its loop
    started = time.monotonic()
    await stop_task(task, within=0.1)
    assert time.monotonic() - started < 2
    assert not task.done()
    held = False  # let it end, so the test's event loop can close
    await task
