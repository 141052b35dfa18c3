"""The small interfaces the core needs from storage; adapters/ implements each for every profile."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass(frozen=True, slots=True)
class Event:
    """A fact written to the outbox in the transaction that made it true."""

    id: int
    topic: str
    # Partition key: a user id. Events with one key are handled in order.
    key: int
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TimelineWindow:
    """Part of a materialized home timeline: post ids newest first, all of them >= floor.

    The timeline holds every pushed post with id >= floor, so a reader below the floor must go to
    the database; floor 0 means the timeline is complete back to the beginning.
    """

    post_ids: list[int]
    floor: int


# The floor of a timeline that is being rebuilt: nothing in it may be trusted yet.
PENDING_FLOOR = (1 << 63) - 1


def trim_slack(cap: int) -> int:
    """Ids a timeline may hold beyond its cap; one more, and it is trimmed back to the newest cap
    (trimming once per `slack` inserts instead of on every one)."""
    return max(1, cap // 8)


class TimelineStore(Protocol):
    """Materialized home timelines: capped sets of post ids per owner."""

    async def window(
        self, owner_id: int, *, before: int | None, limit: int, conn: AsyncConnection | None = None
    ) -> TimelineWindow | None:
        """Up to `limit` ids below `before` (and >= floor), newest first; None if not materialized.

        `conn` is the caller's open read connection: a store kept in the database reads through it
        (one snapshot and no second pooled connection per page); other stores ignore it."""
        ...

    async def push(self, post_id: int, owner_ids: Sequence[int], *, run: int | None = None) -> int:
        """Insert one post into the materialized timelines among `owner_ids`; returns how many.

        `run` names one fan-out of the post: a random number its pushes share, each push with
        owners none of the run's earlier pushes had (callers must keep to that). A store may then
        skip per-owner checks (see the Redis store's ceiling). None makes the push a run of its
        own; an owner named twice in one push still gets the post once.
        """
        ...

    async def merge(self, owner_id: int, post_ids: Sequence[int]) -> None:
        """Insert posts into one materialized timeline (a new follow), keeping the cap."""
        ...

    async def remove(self, owner_id: int, post_ids: Sequence[int]) -> None:
        """Take posts out of one timeline (an unfollow)."""
        ...

    async def remove_from_many(self, post_id: int, owner_ids: Sequence[int]) -> None:
        """Take one post out of many timelines (a deleted post)."""
        ...

    async def begin_rebuild(self, owner_id: int) -> None:
        """Drop the timeline and open an empty, pending one that fan-out already writes into."""
        ...

    async def finish_rebuild(self, owner_id: int, post_ids: Sequence[int], floor: int) -> None:
        """Merge the rebuilt ids in and set the floor, making the timeline trusted."""
        ...

    async def drop(self, owner_id: int) -> None:
        """Forget the timeline; the next read rebuilds it."""
        ...


class EventSink(Protocol):
    """Where the outbox relay hands committed events: in-process handlers or a durable stream."""

    async def publish(self, events: Sequence[Event]) -> None: ...


class PubSub(Protocol):
    """Fire-and-forget messages to whichever process holds a user's live connection."""

    async def publish(self, channel: str, message: bytes) -> None: ...

    def subscribe(self, channel: str) -> AsyncIterator[bytes]: ...


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One event of a user's live stream; `id` is the user's sequence number, increasing."""

    id: int
    event: str
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Outgoing:
    """An event for one user's live stream, before it gets its sequence number."""

    user_id: int
    event: str
    data: Mapping[str, Any]


class StreamClosed(Exception):
    """The live stream ended on the server's side: slow consumer, shutdown."""


class LiveStream(Protocol):
    """One open SSE or WebSocket connection of a user, with a bounded queue of events."""

    async def next(self, wait: float) -> StreamEvent | None:
        """The next event, or None after `wait` idle seconds; raises StreamClosed once closed."""
        ...

    async def heartbeat(self) -> None:
        """Keep the user present and catch up on anything the live path missed."""
        ...

    async def aclose(self) -> None: ...


class RealtimeHub(Protocol):
    """Per-user event streams: sequence ids, a short replay buffer, presence, delivery to connections."""

    async def online(self, user_ids: Sequence[int]) -> set[int]:
        """The users among `user_ids` who have a stream open (or had, within the presence expiry)."""
        ...

    def online_users(self, *, batch: int) -> AsyncGenerator[list[int], None]:
        """Every present user, a batch at a time (the celebrity path: online users are few)."""
        ...

    async def publish(self, messages: Sequence[Outgoing]) -> None:
        """Give each message its user's next sequence id, buffer it for replay and deliver it."""
        ...

    async def publish_to_user(self, user_id: int, event_type: str, data: Mapping[str, Any]) -> bool:
        """Publish to one user if present (offline users cost nothing); whether it was published."""
        ...

    async def open(self, user_id: int, *, last_event_id: int | None) -> LiveStream:
        """A stream resuming after `last_event_id` (replay, or a `reset` event when the gap is lost)."""
        ...

    async def close(self) -> None:
        """End every stream of this process (shutdown)."""
        ...


class Counters(Protocol):
    """Post engagement counts buffered outside the database (production): deltas flushed in batches.

    Counter names are "like" and "repost". The exact value of a counter is the database column plus
    the pending delta; the embedded profile has no Counters and updates the column in the transaction.
    """

    async def add(self, post_id: int, name: str, delta: int) -> int:
        """Add to one counter's delta (after the commit that made it true); returns its whole unflushed delta."""
        ...

    async def pending(self, post_ids: Sequence[int]) -> dict[int, dict[str, int]]:
        """Deltas not yet in the database, by post id and counter name (absent means zero)."""
        ...


class PostCache(Protocol):
    """What hydration may read outside the database: a post's immutable fields, by post id.

    Entries are JSON-like mappings. Everything about a post that can change (whether it is live, its
    counts, the viewer's flags, its author's profile and privacy) is read from the database with
    every page, so an entry never goes stale while its post lives. An unreachable store never fails
    a caller: reads come back as misses and writes are skipped (or retried, for invalidations).
    """

    async def get(self, post_ids: Sequence[int]) -> dict[int, Mapping[str, Any]]:
        """The cached entries among these ids (at most one round trip); absent ones are misses."""
        ...

    def peek(self, post_ids: Sequence[int]) -> dict[int, Mapping[str, Any]]:
        """The entries among these ids that this process holds, without any I/O (a shared store's
        entries are not looked for): what a page can know before it asks anything."""
        ...

    async def put(self, posts: Mapping[int, Mapping[str, Any]]) -> None:
        """Fill entries read from the database; an entry being invalidated is left alone."""
        ...

    async def forget_posts(self, post_ids: Sequence[int]) -> None:
        """Drop entries (after the commit of a delete), so their memory is not held for nothing."""
        ...
