"""The outbox relay: committed events go to the event sink (inline handlers or a stream), then are marked sent."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from roost.adapters.sql import outbox
from roost.adapters.sql.database import Database
from roost.adapters.sql.write_lock import urgent_writes
from roost.core.errors import Unavailable
from roost.ports import EventSink
from roost.workers.background import stop_task

log = logging.getLogger(__name__)

# One relay step: relays a batch, returns how many events it sent (0 when the outbox is empty).
RelayStep = Callable[[Database, EventSink], Awaitable[int]]


async def relay_once(db: Database, sink: EventSink, *, batch: int = 500) -> int:
    """Relay one batch of unsent events in id order; returns how many were sent."""
    async with db.read() as conn:
        events = await outbox.unsent(conn, limit=batch)
    if not events:
        return 0
    await sink.publish(events)
    async with db.transaction() as conn:
        await outbox.mark_sent(conn, [e.id for e in events])
    return len(events)


class RelayLoop:
    """Runs the relay in the background, woken by every commit and by a slow poll as a backstop."""

    def __init__(
        self, db: Database, sink: EventSink, *, poll_seconds: float = 0.5, step: RelayStep | None = None
    ) -> None:
        self._db = db
        self._sink = sink
        # The stream relay (workers.stream_relay) swaps in a step that is safe in several processes.
        self._step: RelayStep = step or relay_once
        self._poll = poll_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._lock = asyncio.Lock()

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._stopping = True
            self._wake.set()
            await stop_task(self._task)
            self._task = None

    async def drain(self) -> int:
        """Relay until the outbox is empty (tests and shutdown)."""
        total = 0
        while True:
            async with self._lock:
                sent = await self._step(self._db, self._sink)
            total += sent
            if not sent:
                return total

    async def _run(self) -> None:
        # Fan-out keeps up with posting: this task's SQLite writes go before queued requests' writes.
        urgent_writes()
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll)
            self._wake.clear()
            try:
                await self.drain()
            except Unavailable:
                log.warning("outbox relay: database unavailable, retrying")
                await asyncio.sleep(1.0)
            except Exception:
                log.exception("outbox relay failed, retrying")
                await asyncio.sleep(1.0)
