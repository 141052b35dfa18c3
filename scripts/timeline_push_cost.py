"""Redis time of one post pushed into 10,000 home timelines, nearly empty and full.

Usage: python scripts/timeline_push_cost.py [redis-url, default redis://127.0.0.1:6379/9]
Materializes 10,000 timelines holding 20 ids, pushes 5 posts into all of them, and reports the
median wall time and Redis CPU (INFO cpu) of a push; then the same with timelines holding
`cap - 5` ids (the steady state of an active reader). Keys live under a fresh prefix, removed after.
Run it against another checkout (PYTHONPATH=<checkout>/src) to compare timeline encodings.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import redis.asyncio

from roost.adapters.redis import timelines
from roost.adapters.redis.keys import Keys
from roost.adapters.redis.timelines import RedisTimelineStore
from roost.core.ids import IdGenerator, id_floor_for

OWNERS, CAP, PUSHES = 10_000, 800, 5
# Timelines hold posts of the past day; pushes are of posts made now, as in a running system.
BASE = id_floor_for(datetime.now(UTC) - timedelta(days=1))
# Owner ids as long as real (snowflake) user ids: the standalone push sends them as digits.
FIRST_OWNER = 370_000_000_000_000_000


async def redis_cpu(client: redis.asyncio.Redis) -> float:
    info = await client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def measure(client: redis.asyncio.Redis, fill: int) -> None:
    prefix = f"pushcost-{uuid.uuid4().hex[:8]}"
    await client.config_set("zset-max-listpack-entries", CAP)  # for the sorted-set encoding
    store = RedisTimelineStore(client, prefix=prefix, cap=CAP)
    owners = [FIRST_OWNER + o * 4096 for o in range(OWNERS)]
    try:
        for start in range(0, OWNERS, 50):
            batch = owners[start : start + 50]
            await asyncio.gather(*(store.begin_rebuild(o) for o in batch))
            await asyncio.gather(
                *(
                    store.finish_rebuild(o, [BASE + i * 7919 + o % 7907 for i in range(fill)], 0)
                    for o in batch
                )
            )
        # A new keyspace's ceiling starts this far ahead of now; posts made later are above it.
        await asyncio.sleep(getattr(timelines, "CEILING_MARGIN", timedelta(0)).total_seconds())
        walls, cpus, ids = [], [], IdGenerator()
        for _ in range(PUSHES):
            post_id = ids.next_id()
            cpu, started = await redis_cpu(client), time.perf_counter()
            assert await store.push(post_id, owners) == OWNERS
            walls.append(time.perf_counter() - started)
            cpus.append(await redis_cpu(client) - cpu)
        memory = await client.memory_usage(Keys(prefix).timeline(owners[0])) or 0
        wall, cpu = statistics.median(walls), statistics.median(cpus)
        print(
            f"timelines holding {fill} ids: push to {OWNERS:,} in {wall * 1000:.1f} ms "
            f"({OWNERS / wall:,.0f} inserts/s), Redis CPU {cpu * 1000:.1f} ms "
            f"({cpu / OWNERS * 1e6:.2f} us per timeline); one timeline of {fill + PUSHES} ids: "
            f"{memory} bytes ({memory / (fill + PUSHES):.1f} per id)"
        )
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=1000)]
        for start in range(0, len(keys), 1000):
            await client.unlink(*keys[start : start + 1000])


async def main(url: str) -> None:
    client = redis.asyncio.Redis.from_url(url, max_connections=200)
    try:
        for fill in (20, CAP - PUSHES):
            await measure(client, fill)
    finally:
        await client.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "redis://127.0.0.1:6379/9"))
