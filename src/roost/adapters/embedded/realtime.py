"""In-process real-time hub (embedded profile): per-user sequences, replay buffers, presence, queues.

Sequence ids of a user start, for each epoch of its buffer, at the wall clock in microseconds, so
ids only grow, also across a restart or an expired buffer: a client resuming from an id of an older
epoch finds a gap and gets a `reset` event instead of silently missing events.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from roost.core.errors import RateLimited, Unavailable
from roost.ports import LiveStream, Outgoing, StreamClosed, StreamEvent

RESET = "reset"


@dataclass(frozen=True, slots=True)
class RealtimeLimits:
    # Events kept per user for replay to reconnecting clients.
    replay_size: int = 500
    # A user's buffer (and sequence epoch) is forgotten this long after its last use.
    replay_seconds: float = 600.0
    # A user counts as present this long after its last heartbeat, so a quick reconnect misses nothing.
    presence_seconds: float = 120.0
    # Events waiting per connection; a consumer further behind is cut off (it resumes by id).
    queue_size: int = 256
    # Open streams per user (across processes in the production profile).
    streams_per_user: int = 5


def epoch_base() -> int:
    """The first sequence id of a new epoch: wall-clock microseconds."""
    return time.time_ns() // 1000


def reset_event(seq: int, reason: str) -> StreamEvent:
    """Tells the client to refetch its feed and notifications; it resumes from `seq` afterwards."""
    return StreamEvent(id=seq, event=RESET, data={"reason": reason})


def too_many_streams() -> RateLimited:
    return RateLimited("too many open streams for this user", retry_after=15)


class LocalStream:
    """One connection: a bounded queue of events in sequence order, closed when the client lags."""

    def __init__(
        self,
        user_id: int,
        *,
        capacity: int,
        replay_capacity: int,
        on_heartbeat: Callable[[LocalStream], Awaitable[None]],
        on_close: Callable[[LocalStream], Awaitable[None]],
    ) -> None:
        self.user_id = user_id
        # Sequence id of the last event queued: older or repeated ids are dropped.
        self.last = 0
        self.closed: str | None = None
        self._capacity = capacity
        self._replay_capacity = replay_capacity
        # Queued events let in beyond the capacity because they were replayed (at most a buffer's worth).
        self._replayed = 0
        self._queue: deque[StreamEvent] = deque()
        self._ready = asyncio.Event()
        self._on_heartbeat = on_heartbeat
        self._on_close = on_close
        self._released = False

    def offer(self, event: StreamEvent, *, replayed: bool = False) -> None:
        """Queue an event newer than the last one; a full queue cuts the connection off.

        A replay (up to a whole buffer) may go past the capacity: it is what the client asked for.
        """
        if self.closed is not None or event.id <= self.last:
            return
        if replayed and self._replayed < self._replay_capacity:
            self._replayed += 1
        elif len(self._queue) - self._replayed >= self._capacity:
            # Never block the publisher: the client reconnects and resumes from its last id.
            self.close("slow consumer")
            return
        self._queue.append(event)
        self.last = event.id
        self._ready.set()

    def force_reset(self, seq: int, reason: str) -> None:
        """Queue a `reset` and continue after `seq`, whatever came before (a lost gap)."""
        if self.closed is None:
            self.last = 0
            self.offer(reset_event(seq, reason))
            self.last = seq

    def close(self, reason: str) -> None:
        if self.closed is None:
            self.closed = reason
            self._queue.clear()
            self._ready.set()

    async def next(self, wait: float) -> StreamEvent | None:
        if not self._queue and self.closed is None:
            try:
                await asyncio.wait_for(self._ready.wait(), timeout=wait)
            except TimeoutError:
                return None
        if self.closed is not None:
            raise StreamClosed(self.closed)
        event = self._queue.popleft()
        self._replayed = max(0, self._replayed - 1)
        if not self._queue:
            self._ready.clear()
        return event

    async def heartbeat(self) -> None:
        if self.closed is not None:
            raise StreamClosed(self.closed)
        await self._on_heartbeat(self)

    async def aclose(self) -> None:
        self.close("client gone")
        if not self._released:
            self._released = True
            await self._on_close(self)


class _Log:
    """A user's sequence and replay buffer."""

    __slots__ = ("events", "last", "used")

    def __init__(self, base: int, size: int, now: float) -> None:
        self.last = base
        self.events: deque[StreamEvent] = deque(maxlen=size)
        self.used = now

    def missed(self, after: int) -> list[StreamEvent] | None:
        """The events after `after`, or None when some of them are no longer buffered."""
        if after > self.last:
            return None
        first = self.events[0].id if self.events else self.last + 1
        if after + 1 < first:
            return None
        return [e for e in self.events if e.id > after]


class EmbeddedRealtimeHub:
    """Everything in this process: publishing is a few dict look-ups and appends."""

    def __init__(
        self, limits: RealtimeLimits | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limits = limits or RealtimeLimits()
        self._clock = clock
        self._logs: dict[int, _Log] = {}
        self._streams: dict[int, set[LocalStream]] = {}
        # User id -> monotonic time until which the user counts as present.
        self._present_until: dict[int, float] = {}
        self._next_sweep = clock() + self.limits.replay_seconds
        self._closed = False

    def _is_present(self, user_id: int, now: float) -> bool:
        return bool(self._streams.get(user_id)) or self._present_until.get(user_id, 0.0) > now

    async def online(self, user_ids: Sequence[int]) -> set[int]:
        now = self._clock()
        return {u for u in user_ids if self._is_present(u, now)}

    async def online_users(self, *, batch: int) -> AsyncGenerator[list[int], None]:
        now = self._clock()
        present = [u for u in {*self._streams, *self._present_until} if self._is_present(u, now)]
        for i in range(0, len(present), batch):
            yield present[i : i + batch]

    async def publish(self, messages: Sequence[Outgoing]) -> None:
        now = self._clock()
        for m in messages:
            self._append(m.user_id, m.event, m.data, now)
        self._sweep(now)

    async def publish_to_user(self, user_id: int, event_type: str, data: Mapping[str, Any]) -> bool:
        now = self._clock()
        if not self._is_present(user_id, now):
            return False
        self._append(user_id, event_type, data, now)
        return True

    def _append(self, user_id: int, event_type: str, data: Mapping[str, Any], now: float) -> None:
        log = self._log(user_id, now)
        log.last += 1
        event = StreamEvent(id=log.last, event=event_type, data=data)
        log.events.append(event)
        for stream in self._streams.get(user_id, ()):
            stream.offer(event)

    def _log(self, user_id: int, now: float) -> _Log:
        log = self._logs.get(user_id)
        if log is None or (
            log.used + self.limits.replay_seconds < now and not self._is_present(user_id, now)
        ):
            log = self._logs[user_id] = _Log(epoch_base(), self.limits.replay_size, now)
        log.used = now
        return log

    async def open(self, user_id: int, *, last_event_id: int | None) -> LiveStream:
        if self._closed:
            raise Unavailable("the server is shutting down")
        streams = self._streams.setdefault(user_id, set())
        if len(streams) >= self.limits.streams_per_user:
            raise too_many_streams()
        now = self._clock()
        was_present = self._is_present(user_id, now)
        log = self._log(user_id, now)
        stream = LocalStream(
            user_id,
            capacity=self.limits.queue_size,
            replay_capacity=self.limits.replay_size,
            on_heartbeat=self._heartbeat,
            on_close=self._release,
        )
        if last_event_id is None:
            stream.last = log.last
        else:
            # While the user was away past the presence expiry nothing was published for it.
            missed = log.missed(last_event_id) if was_present else None
            if missed is None:
                stream.force_reset(log.last, "gap" if was_present else "expired")
            else:
                stream.last = last_event_id
                for event in missed:
                    stream.offer(event, replayed=True)
        streams.add(stream)
        self._present_until[user_id] = now + self.limits.presence_seconds
        return stream

    async def _heartbeat(self, stream: LocalStream) -> None:
        now = self._clock()
        self._present_until[stream.user_id] = now + self.limits.presence_seconds
        self._log(stream.user_id, now)

    async def _release(self, stream: LocalStream) -> None:
        streams = self._streams.get(stream.user_id)
        if streams is not None:
            streams.discard(stream)
            if not streams:
                del self._streams[stream.user_id]
        # Presence outlives the connection a little, so a reconnecting client can resume.
        self._present_until[stream.user_id] = self._clock() + self.limits.presence_seconds

    def _sweep(self, now: float) -> None:
        """Forget buffers and presence of users gone for good, now and then."""
        if now < self._next_sweep:
            return
        self._next_sweep = now + self.limits.replay_seconds
        for user_id in [u for u, t in self._present_until.items() if t <= now and u not in self._streams]:
            del self._present_until[user_id]
        stale = [u for u, log in self._logs.items() if log.used + self.limits.replay_seconds < now]
        for user_id in stale:
            if not self._is_present(user_id, now):
                del self._logs[user_id]

    async def close(self) -> None:
        self._closed = True
        for streams in list(self._streams.values()):
            for stream in list(streams):
                stream.close("server shutting down")
