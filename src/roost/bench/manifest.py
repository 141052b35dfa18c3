"""Who the driver acts as: readers and writers of a loaded graph, with tokens minted by the server's key."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from roost.adapters.sql.database import Database
from roost.adapters.sql.tables import follows, timeline_meta, users
from roost.core.security import Tokens
from roost.core.settings import Settings


@dataclass(frozen=True, slots=True)
class Reader:
    user_id: int
    token: str


@dataclass(frozen=True, slots=True)
class Writer:
    user_id: int
    token: str
    follower_count: int
    # Tokens of a few followers with a materialized timeline: the freshness probes read as them.
    followers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Manifest:
    readers: list[Reader]
    writers: list[Writer]


async def build_manifest(
    settings: Settings, *, readers: int = 2000, writers: int = 200, seed: int = 1
) -> Manifest:
    """Readers: active users with timelines; writers: active users spread over follower counts."""
    rng = random.Random(seed)
    tokens = Tokens(settings.resolved_secret_key(), ttl_seconds=24 * 3600)
    db = Database(settings.sqlalchemy_url)
    active_since = datetime.now(UTC) - timedelta(days=settings.inactive_days)
    try:
        async with db.read() as conn:
            active = (
                await conn.execute(
                    select(users.c.id, users.c.follower_count)
                    .join(
                        timeline_meta, timeline_meta.c.owner_id == users.c.id, isouter=not settings.is_sqlite
                    )
                    .where(users.c.last_active_at >= active_since)
                    .order_by(users.c.id)
                )
            ).all()
            reader_rows = rng.sample(active, min(readers, len(active)))
            # Every celebrity writes too, so freshness has a bucket for them.
            by_count = sorted(active, key=lambda r: r.follower_count, reverse=True)
            picked = {r.id: r for r in by_count[:5]}
            for r in rng.sample(active, min(writers, len(active))):
                picked.setdefault(r.id, r)
            writer_list: list[Writer] = []
            for r in picked.values():
                fans = (
                    await conn.execute(
                        select(follows.c.follower_id)
                        .join(users, users.c.id == follows.c.follower_id)
                        .where(follows.c.followee_id == r.id, users.c.last_active_at >= active_since)
                        .limit(50)
                    )
                ).scalars()
                fan_ids = list(fans)[:3]
                writer_list.append(
                    Writer(
                        r.id, tokens.issue(r.id), r.follower_count, tuple(tokens.issue(f) for f in fan_ids)
                    )
                )
    finally:
        await db.dispose()
    return Manifest(readers=[Reader(r.id, tokens.issue(r.id)) for r in reader_rows], writers=writer_list)
