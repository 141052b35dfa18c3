"""What consumers get to work with, built once per process by the runtime."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from roost.adapters.sql.database import Database
from roost.core.ids import IdGenerator
from roost.core.settings import Settings
from roost.ports import Event, TimelineStore


class RecentPosts(Protocol):
    """Per-author lists of recent post ids that readers pull from (production profile)."""

    async def add(self, author_id: int, post_id: int) -> None: ...

    async def remove(self, author_id: int, post_id: int) -> None: ...


@dataclass
class WorkerContext:
    db: Database
    ids: IdGenerator
    timelines: TimelineStore
    settings: Settings
    recent: RecentPosts | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


Handler = Callable[[WorkerContext, Event], Awaitable[None]]
