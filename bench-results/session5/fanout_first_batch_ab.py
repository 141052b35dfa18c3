"""The growing fan-out batches, tried and dropped: 10K-follower fan-out times with a first page of
5,000 (as committed) and of 500 doubling, taking turns in one process, 30 each.

Needs `growing-batches.patch` applied (it adds `fanout.FIRST_BATCH`) and the micro database that
`roost bench micro` leaves behind. Run from /tmp with the micro's production environment:
ROOST_DATABASE_URL=.../roost_bench_m ROOST_REDIS_URL=redis://127.0.0.1:6379/7 ROOST_SECRET_KEY=...
python fanout_first_batch_ab.py $(psql -h 127.0.0.1 -U postgres roost_bench_m_micro -Atc
  "select followee_id from follows group by 1 order by count(*) desc limit 1")
"""

from __future__ import annotations

import asyncio
import dataclasses
import statistics
import sys
import time
from datetime import UTC, datetime

from roost.actions.posts import create_post
from roost.core.settings import Settings
from roost.ports import Event
from roost.runtime import Runtime
from roost.workers import fanout


async def main(author: int) -> None:
    settings = Settings()
    base, _, name = settings.database_url.rpartition("/")
    settings = settings.model_copy(update={"database_url": f"{base}/{name}_micro", "fanout_strategy": "push"})
    runtime = Runtime.build(settings)
    await runtime.start(background=False)
    ctx = dataclasses.replace(runtime.workers, settings=settings)
    times: dict[int, list[float]] = {5000: [], 500: []}
    for _ in range(30):
        for first, runs in times.items():
            fanout.FIRST_BATCH = first  # type: ignore[attr-defined]
            post_id = await create_post(
                runtime.db, runtime.ids, author_id=author, content="ab", now=datetime.now(UTC)
            )
            event = Event(id=post_id, topic="post.created", key=author, payload={"postId": post_id})
            started = time.perf_counter()
            await fanout.on_post_created(ctx, event)
            runs.append((time.perf_counter() - started) * 1000)
    for first, runs in times.items():
        print(f"first batch {first}: median {statistics.median(runs):.1f} ms")
    await runtime.stop()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
