"""Keys of formats no version reads any more, removed by `roost migrate`.

When a key's format changes, its name changes (`Keys`), so a running old version and a new one
never read each other's keys; the old keys are then dead weight that nothing expires. Timelines:
`tl`/`tlm` (sorted sets), `tl2`/`tlm2` (lists kept without the ceiling).
"""

from __future__ import annotations

from roost.adapters.redis import idsets
from roost.adapters.redis.client import RedisClient

RETIRED_KINDS = ("tl", "tlm", "tl2", "tlm2")

# Keys per UNLINK batch: one round trip each, and no single call long on the server.
BATCH = 1000


async def remove_retired_keys(client: RedisClient, prefix: str) -> int:
    """UNLINKs every key of a retired kind under `prefix`; returns how many there were.

    One SCAN pass walks the keyspace a little at a time (all primaries of a Cluster), so the server
    keeps serving while it runs; a retired kind is never written again, so one pass finds them all.
    """
    retired = {kind.encode() for kind in RETIRED_KINDS}
    head = len(prefix) + 1
    removed, batch = 0, []
    async for key in client.scan_iter(match=f"{prefix}:tl*", count=BATCH):
        kind_end = key.find(b":", head)  # none in `<prefix>:tlceil`
        if kind_end > 0 and key[head:kind_end] in retired:
            batch.append(key)
            if len(batch) == BATCH:
                removed += await _unlink(client, batch)
                batch = []
    return removed + await _unlink(client, batch)


async def _unlink(client: RedisClient, keys: list[bytes]) -> int:
    # One UNLINK per key: keys of different owners lie in different Cluster slots.
    replies = await idsets.pipeline(client, [(b"UNLINK", key) for key in keys])
    return sum(int(reply) for reply in replies)
