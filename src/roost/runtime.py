"""The composition root: builds the adapters of the configured profile and runs background work."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.engine import Connection

from roost.adapters.embedded.events import InlineSink
from roost.adapters.embedded.timelines import SqlTimelineStore
from roost.adapters.sql.database import Database
from roost.adapters.sql.tables import metadata
from roost.core.ids import IdGenerator
from roost.core.security import Passwords, Tokens
from roost.core.settings import Settings
from roost.queries.feed import DatabasePull, FeedContext
from roost.workers.context import WorkerContext
from roost.workers.relay import RelayLoop

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    settings: Settings
    db: Database
    ids: IdGenerator
    passwords: Passwords
    tokens: Tokens
    feed: FeedContext
    workers: WorkerContext
    relay: RelayLoop
    started: bool = field(default=False)

    @classmethod
    def build(cls, settings: Settings, *, passwords: Passwords | None = None) -> Runtime:
        if settings.is_sqlite:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(
            settings.sqlalchemy_url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow
        )
        ids = IdGenerator(settings.worker_id)
        timelines = SqlTimelineStore(db, cap=settings.timeline_cap)
        workers = WorkerContext(db=db, ids=ids, timelines=timelines, settings=settings)
        relay = RelayLoop(db, InlineSink(workers))
        db.on_commit(relay.wake)
        return cls(
            settings=settings,
            db=db,
            ids=ids,
            passwords=passwords or Passwords(),
            tokens=Tokens(settings.resolved_secret_key(), ttl_seconds=settings.access_token_ttl),
            feed=FeedContext(db=db, timelines=timelines, pull=DatabasePull(), settings=settings),
            workers=workers,
            relay=relay,
        )

    async def start(self, *, background: bool = True) -> None:
        """Prepare the schema (embedded profile migrates itself) and start the in-process workers."""
        if self.settings.is_sqlite:
            async with self.db.transaction() as conn:
                await conn.run_sync(_create_all)
        if background:
            self.relay.start()
        self.started = True

    async def readiness(self) -> dict[str, bool]:
        """Whether each backing service answers."""
        return {"database": await self.db.ping()}

    async def drain(self) -> None:
        """Process every pending event now (tests, and before shutdown)."""
        await self.relay.drain()

    async def stop(self) -> None:
        await self.relay.stop()
        await self.db.dispose()
        self.started = False


def _create_all(sync_conn: Connection) -> None:
    metadata.create_all(sync_conn)
