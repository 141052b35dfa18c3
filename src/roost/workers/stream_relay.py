"""The outbox relay for the event stream, safe to run in every API and worker process at once.

Each step claims a batch of unsent outbox rows with `SELECT ... FOR UPDATE SKIP LOCKED` and, in
the same transaction, publishes them and marks them sent. Concurrent relays take disjoint batches.
The publish happens before the commit, so a crash in between means the batch is published again
(a duplicate, which idempotent consumers ignore), never lost. SQLite has no row locks (the clause
is dropped there), but its write transactions are serial, which is as safe.

Two relays working at once may publish their batches out of id order, so the events of one key
can reach the stream out of order; the consumers re-read current state, so order does not matter
to them (and a single relay process keeps the order).
"""

from __future__ import annotations

from sqlalchemy import select

from roost.adapters.redis.client import RedisClient
from roost.adapters.redis.stream import build_stream_sink
from roost.adapters.sql import outbox
from roost.adapters.sql.database import Database
from roost.adapters.sql.tables import outbox as outbox_table
from roost.ports import Event, EventSink
from roost.workers.context import WorkerContext
from roost.workers.relay import RelayLoop


async def relay_claimed(db: Database, sink: EventSink, *, batch: int = 500) -> int:
    """Relay one claimed batch of unsent events in id order; returns how many were sent."""
    # Look before taking the write transaction: its commit would wake the relay loop again and
    # an empty outbox would spin it.
    async with db.read() as conn:
        if (
            await conn.scalar(select(outbox_table.c.id).where(outbox_table.c.sent_at.is_(None)).limit(1))
            is None
        ):
            return 0
    async with db.transaction() as conn:
        rows = await conn.execute(
            select(
                outbox_table.c.id, outbox_table.c.topic, outbox_table.c.partition_key, outbox_table.c.payload
            )
            .where(outbox_table.c.sent_at.is_(None))
            .order_by(outbox_table.c.id)
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
        events = [Event(id=r.id, topic=r.topic, key=r.partition_key, payload=r.payload) for r in rows]
        if events:
            await sink.publish(events)
            await outbox.mark_sent(conn, [e.id for e in events])
    return len(events)


def stream_relay_loop(db: Database, sink: EventSink, *, poll_seconds: float = 0.5) -> RelayLoop:
    """A relay loop running `relay_claimed`; wake it on commit where this process writes."""
    return RelayLoop(db, sink, poll_seconds=poll_seconds, step=relay_claimed)


def stream_relay(db: Database, workers: WorkerContext, client: RedisClient | None) -> RelayLoop:
    """The runtime's RelayFactory for the production profile: the outbox feeds the Redis stream."""
    if client is None:
        raise ValueError("the stream relay needs ROOST_REDIS_URL")
    return stream_relay_loop(db, build_stream_sink(client, workers.settings))
