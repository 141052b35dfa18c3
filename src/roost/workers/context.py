"""What consumers get to work with, built once per process by the runtime."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from roost.adapters.sql.database import Database
from roost.core.ids import IdGenerator
from roost.core.settings import Settings
from roost.ports import Event, RealtimeHub, TimelineStore


class RecentPosts(Protocol):
    """Per-author lists of recent post ids that readers pull from (production profile)."""

    async def add(self, author_id: int, post_id: int) -> None: ...

    async def remove(self, author_id: int, post_id: int) -> None: ...


class Realtime(Protocol):
    """Pushes to the live streams of online users (workers/realtime.LiveUpdates)."""

    hub: RealtimeHub

    async def publish_to_user(self, user_id: int, event_type: str, data: Mapping[str, Any]) -> bool: ...

    async def notification_changed(self, user_id: int, notification_id: int) -> None: ...


@dataclass
class WorkerContext:
    db: Database
    ids: IdGenerator
    timelines: TimelineStore
    settings: Settings
    recent: RecentPosts | None = None
    # Live streams of online users (SSE / WebSocket); None where nothing streams.
    realtime: Realtime | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


Handler = Callable[[WorkerContext, Event], Awaitable[None]]
