"""Materialized home timelines in SQL tables (embedded profile).

One row per (owner, post) plus a meta row per owner holding the floor: every pushed post with
id >= floor is present. Inserts skip owners without a meta row (no materialized timeline).
Trimming to the cap is amortized: an owner is trimmed once it grows past cap + cap/8.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, and_, bindparam, delete, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.adapters.sql.database import Database
from roost.adapters.sql.dialect import insert_ignoring_duplicates
from roost.adapters.sql.hot import HotQuery
from roost.adapters.sql.tables import timeline_entries, timeline_meta
from roost.ports import PENDING_FLOOR, TimelineWindow, trim_slack

_CHUNK = 500


def _window_query() -> Any:
    """The meta row of one owner (so a materialized but empty timeline still answers) joined with
    its entries in [floor, before), newest first."""
    m, e = timeline_meta, timeline_entries
    join_on = and_(
        e.c.owner_id == m.c.owner_id,
        e.c.post_id >= m.c.floor,
        e.c.post_id < bindparam("before", type_=BigInteger),
    )
    return (
        select(m.c.floor, e.c.post_id)
        .select_from(m.outerjoin(e, join_on))
        .where(m.c.owner_id == bindparam("owner", type_=BigInteger))
        .order_by(e.c.post_id.desc())
        .limit(bindparam("limit"))
    )


# Read with every page: run on the driver's connection (see `hot`).
_WINDOW = HotQuery(lambda _: _window_query())


class SqlTimelineStore:
    def __init__(self, db: Database, *, cap: int) -> None:
        self._db = db
        self._cap = cap
        self._slack = trim_slack(cap)

    async def window(
        self, owner_id: int, *, before: int | None, limit: int, conn: AsyncConnection | None = None
    ) -> TimelineWindow | None:
        params = {
            "owner": owner_id,
            "before": before if before is not None else PENDING_FLOOR,
            "limit": limit,
        }
        if conn is None:
            async with self._db.read() as own:
                rows = await _WINDOW.fetch(own, params)
        else:
            rows = await _WINDOW.fetch(conn, params)
        if not rows:
            return None
        floor = rows[0][0]
        return TimelineWindow([post_id for _, post_id in rows if post_id is not None], floor)

    async def push(self, post_id: int, owner_ids: Sequence[int], *, run: int | None = None) -> int:
        # One transaction inserts with duplicates ignored: runs make nothing cheaper here.
        inserted = 0
        async with self._db.transaction() as conn:
            for start in range(0, len(owner_ids), _CHUNK):
                chunk = owner_ids[start : start + _CHUNK]
                materialized = select(timeline_meta.c.owner_id, literal(post_id, BigInteger)).where(
                    timeline_meta.c.owner_id.in_(chunk)
                )
                stmt = insert_ignoring_duplicates(conn, timeline_entries).from_select(
                    ["owner_id", "post_id"], materialized
                )
                inserted += (await conn.execute(stmt)).rowcount or 0
                # RETURNING spares a second look-up: only owners past the slack get trimmed.
                grown = await conn.execute(
                    update(timeline_meta)
                    .where(timeline_meta.c.owner_id.in_(chunk))
                    .values(size=timeline_meta.c.size + 1)
                    .returning(timeline_meta.c.owner_id, timeline_meta.c.size)
                )
                over = [r.owner_id for r in grown if r.size > self._cap + self._slack]
                if over:
                    await self._trim_oversized(conn, over)
                # Statements run on the event loop's thread: let requests in between chunks.
                await asyncio.sleep(0)
        return inserted

    async def merge(self, owner_id: int, post_ids: Sequence[int]) -> None:
        if not post_ids:
            return
        async with self._db.transaction() as conn:
            exists = await conn.scalar(
                select(timeline_meta.c.owner_id).where(timeline_meta.c.owner_id == owner_id)
            )
            if exists is None:
                return
            await conn.execute(
                insert_ignoring_duplicates(conn, timeline_entries),
                [{"owner_id": owner_id, "post_id": p} for p in post_ids],
            )
            await conn.execute(
                update(timeline_meta)
                .where(timeline_meta.c.owner_id == owner_id)
                .values(size=timeline_meta.c.size + len(post_ids))
            )
            await self._trim_oversized(conn, [owner_id])

    async def remove(self, owner_id: int, post_ids: Sequence[int]) -> None:
        if not post_ids:
            return
        async with self._db.transaction() as conn:
            await conn.execute(
                delete(timeline_entries).where(
                    timeline_entries.c.owner_id == owner_id,
                    timeline_entries.c.post_id.in_(post_ids),
                )
            )

    async def remove_from_many(self, post_id: int, owner_ids: Sequence[int]) -> None:
        async with self._db.transaction() as conn:
            for start in range(0, len(owner_ids), _CHUNK):
                await conn.execute(
                    delete(timeline_entries).where(
                        timeline_entries.c.owner_id.in_(owner_ids[start : start + _CHUNK]),
                        timeline_entries.c.post_id == post_id,
                    )
                )

    async def begin_rebuild(self, owner_id: int) -> None:
        async with self._db.transaction() as conn:
            await _drop(conn, owner_id)
            await conn.execute(timeline_meta.insert().values(owner_id=owner_id, floor=PENDING_FLOOR, size=0))

    async def finish_rebuild(self, owner_id: int, post_ids: Sequence[int], floor: int) -> None:
        async with self._db.transaction() as conn:
            if post_ids:
                await conn.execute(
                    insert_ignoring_duplicates(conn, timeline_entries),
                    [{"owner_id": owner_id, "post_id": p} for p in post_ids],
                )
            size = await conn.scalar(select(func.count()).where(timeline_entries.c.owner_id == owner_id))
            await conn.execute(
                update(timeline_meta)
                .where(timeline_meta.c.owner_id == owner_id)
                .values(floor=floor, size=size or 0)
            )
            await self._trim_oversized(conn, [owner_id])

    async def drop(self, owner_id: int) -> None:
        async with self._db.transaction() as conn:
            await _drop(conn, owner_id)

    async def _trim_oversized(self, conn: AsyncConnection, owner_ids: Sequence[int]) -> None:
        over: list[int] = []
        for start in range(0, len(owner_ids), _CHUNK):
            rows = await conn.execute(
                select(timeline_meta.c.owner_id).where(
                    timeline_meta.c.owner_id.in_(owner_ids[start : start + _CHUNK]),
                    timeline_meta.c.size > self._cap + self._slack,
                )
            )
            over.extend(r.owner_id for r in rows)
        for owner_id in over:
            # The cap-th newest id becomes the floor; everything below it goes.
            keep_floor = await conn.scalar(
                select(timeline_entries.c.post_id)
                .where(timeline_entries.c.owner_id == owner_id)
                .order_by(timeline_entries.c.post_id.desc())
                .offset(self._cap - 1)
                .limit(1)
            )
            if keep_floor is None:
                continue
            await conn.execute(
                delete(timeline_entries).where(
                    timeline_entries.c.owner_id == owner_id,
                    timeline_entries.c.post_id < keep_floor,
                )
            )
            meta_floor = timeline_meta.c.floor
            await conn.execute(
                update(timeline_meta)
                .where(timeline_meta.c.owner_id == owner_id)
                .values(
                    size=self._cap,
                    floor=func.max(meta_floor, keep_floor)
                    if conn.dialect.name == "sqlite"
                    else func.greatest(meta_floor, keep_floor),
                )
            )


async def _drop(conn: AsyncConnection, owner_id: int) -> None:
    await conn.execute(delete(timeline_entries).where(timeline_entries.c.owner_id == owner_id))
    await conn.execute(delete(timeline_meta).where(timeline_meta.c.owner_id == owner_id))
