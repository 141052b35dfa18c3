"""The in-process SQLite write lock, with a fast lane for the fan-out.

SQLite takes one writer at a time, so a process's write transactions queue on one lock. In the
embedded profile the outbox relay and the fan-out share that queue with every request that writes:
under a burst of posts each step of the fan-out waited behind all the posts queued before it, and
followers saw new posts seconds late, or not at all while the burst lasted. Work marked `urgent`
(the relay's task marks itself, see `urgent_writes`) is granted the lock before ordinary waiters,
in arrival order among itself, so fan-out keeps up with posting and the posts wait instead.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

_URGENT: contextvars.ContextVar[bool] = contextvars.ContextVar("roost_urgent_writes", default=False)


def urgent_writes() -> None:
    """Mark the current task (and the tasks it starts) as fan-out: its writes skip the queue."""
    _URGENT.set(True)


class WriteLock:
    """A FIFO lock with two lanes; urgent waiters are served before ordinary ones."""

    def __init__(self) -> None:
        self._held = False
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._ordinary: deque[asyncio.Future[None]] = deque()

    @asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        await self._acquire()
        try:
            yield
        finally:
            self._release()

    async def _acquire(self) -> None:
        if not self._held and not self._urgent and not self._ordinary:
            self._held = True
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        lane = self._urgent if _URGENT.get() else self._ordinary
        lane.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._release()  # granted just as we were cancelled: pass it on
            elif waiter in lane:
                lane.remove(waiter)
            raise

    def _release(self) -> None:
        for lane in (self._urgent, self._ordinary):
            while lane:
                waiter = lane.popleft()
                if not waiter.done():
                    waiter.set_result(None)  # ownership passes straight to the waiter
                    return
        self._held = False
