"""The transactional outbox: events written with the change, relayed after commit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Insert, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.adapters.sql.tables import outbox
from roost.core.ids import IdGenerator
from roost.ports import Event


async def emit(
    conn: AsyncConnection, ids: IdGenerator, topic: str, *, key: int, payload: Mapping[str, Any]
) -> Event:
    """Write one event in the caller's transaction; it is relayed only once that commits."""
    event = Event(id=ids.next_id(), topic=topic, key=key, payload=dict(payload))
    await conn.execute(
        outbox.insert().values(
            id=event.id,
            topic=topic,
            partition_key=key,
            payload=event.payload,
            created_at=datetime.now(UTC),
        )
    )
    return event


def insert_event() -> Insert:
    """The outbox row as a part of a `HotWrite`, its values from `event_params`."""
    return outbox.insert().values(
        id=bindparam("event_id"),
        topic=bindparam("event_topic"),
        partition_key=bindparam("event_key"),
        payload=bindparam("event_payload"),
        created_at=bindparam("event_at"),
    )


def event_params(ids: IdGenerator, topic: str, *, key: int, payload: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters of `insert_event`: the event `emit` would write."""
    return {
        "event_id": ids.next_id(),
        "event_topic": topic,
        "event_key": key,
        "event_payload": dict(payload),
        "event_at": datetime.now(UTC),
    }


async def unsent(conn: AsyncConnection, *, limit: int) -> list[Event]:
    rows = await conn.execute(
        select(outbox.c.id, outbox.c.topic, outbox.c.partition_key, outbox.c.payload)
        .where(outbox.c.sent_at.is_(None))
        .order_by(outbox.c.id)
        .limit(limit)
    )
    return [Event(id=r.id, topic=r.topic, key=r.partition_key, payload=r.payload) for r in rows]


async def mark_sent(conn: AsyncConnection, event_ids: Sequence[int]) -> None:
    if event_ids:
        await conn.execute(update(outbox).where(outbox.c.id.in_(event_ids)).values(sent_at=datetime.now(UTC)))
