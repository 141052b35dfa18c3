"""The event stream on Redis Streams (production profile): partition streams fed by the outbox relay.

Events go to one of N partition streams chosen by their key (a user id): a hash of the key modulo
N (`StreamLayout.partition_of`), so the events of one user stay in order in one stream. Each stream key carries its partition as a hash
tag (`<prefix>:events:{p3}`, the prefix outside the braces) so Redis Cluster spreads partitions
over slots. An entry holds the event id, topic, key and JSON payload. Failed events end in the
dead-letter stream `<prefix>:events:dead`.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from redis.typing import EncodableT, FieldT

from roost.adapters.redis.client import RedisClient
from roost.adapters.redis.keys import Keys
from roost.adapters.redis.resilient import REDIS_ERRORS
from roost.core.errors import Unavailable
from roost.core.settings import Settings
from roost.ports import Event

# The consumer group every worker process joins.
GROUP = "workers"


class StreamLayout:
    """Names of the partition streams and the dead-letter stream of one deployment."""

    def __init__(self, prefix: str, partitions: int) -> None:
        if partitions < 1:
            raise ValueError("partitions must be at least 1")
        self.prefix = Keys(prefix).prefix  # Keys refuses a prefix with braces
        self.partitions = partitions
        self.streams = [f"{self.prefix}:events:{{p{p}}}" for p in range(partitions)]
        self.dead = f"{self.prefix}:events:dead"

    def partition_of(self, key: int) -> int:
        """Hashed, not `key % partitions`: the low 12 bits of a Snowflake id are a per-millisecond
        sequence, nearly always 0, so a plain modulo put every user's events in partition 0, and a
        worker handled them all one after another (session 10: fan-out fell seconds behind at 240
        posts/s with a worker using a third of a core)."""
        return zlib.crc32(key.to_bytes(8, "big", signed=True)) % self.partitions

    def stream_of(self, key: int) -> str:
        return self.streams[self.partition_of(key)]


def encode_event(event: Event) -> dict[FieldT, EncodableT]:
    return {
        "id": event.id,
        "topic": event.topic,
        "key": event.key,
        "payload": orjson.dumps(dict(event.payload)),
    }


def decode_event(fields: Mapping[Any, Any]) -> Event:
    """The event of a stream entry; raises ValueError when the entry is malformed."""
    try:
        fields = {_text(k): v for k, v in fields.items()}
        payload = orjson.loads(fields["payload"])
        if not isinstance(payload, dict):
            raise ValueError("payload is not an object")
        return Event(
            id=int(fields["id"]), topic=_text(fields["topic"]), key=int(fields["key"]), payload=payload
        )
    except (KeyError, TypeError, UnicodeDecodeError, orjson.JSONDecodeError) as e:
        raise ValueError(f"malformed stream entry: {e}") from e


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisStreamSink:
    """EventSink that appends each event to its partition stream, one pipeline per batch.

    Streams are trimmed with `MAXLEN ~ maxlen` (approximate, so trimming is cheap); maxlen must
    exceed how far the consumers can fall behind, or unread entries are trimmed away.
    """

    def __init__(self, redis: RedisClient, layout: StreamLayout, *, maxlen: int) -> None:
        self._redis = redis
        self.layout = layout
        self._maxlen = maxlen

    async def publish(self, events: Sequence[Event]) -> None:
        if not events:
            return
        # Not a MULTI: the streams live in different Cluster slots. A failure part-way leaves the
        # outbox rows unsent, so the whole batch is sent again; consumers are idempotent.
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for event in events:
                    pipe.xadd(
                        self.layout.stream_of(event.key),
                        encode_event(event),
                        maxlen=self._maxlen,
                        approximate=True,
                    )
                await pipe.execute()
        except REDIS_ERRORS as e:
            # The events stay in the outbox; the relay retries once Redis is back.
            raise Unavailable("the event stream is unavailable") from e


def build_stream_sink(redis: RedisClient, settings: Settings) -> RedisStreamSink:
    """The production event sink for the outbox relay."""
    layout = StreamLayout(settings.redis_prefix, settings.stream_partitions)
    return RedisStreamSink(redis, layout, maxlen=settings.stream_maxlen)
