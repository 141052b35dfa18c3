"""The small interfaces the core needs from storage; adapters/ implements each for every profile."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


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


class TimelineStore(Protocol):
    """Materialized home timelines: capped sets of post ids per owner."""

    async def window(self, owner_id: int, *, before: int | None, limit: int) -> TimelineWindow | None:
        """Up to `limit` ids below `before` (and >= floor), newest first; None if not materialized."""
        ...

    async def push(self, post_id: int, owner_ids: Sequence[int]) -> int:
        """Insert one post into the materialized timelines among `owner_ids`; returns how many."""
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
