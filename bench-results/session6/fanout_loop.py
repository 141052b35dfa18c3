"""Repeated 10K fan-outs in one process: wall, worker CPU, Redis CPU per fan-out (medians)."""
import asyncio, dataclasses, statistics, sys, time
from datetime import UTC, datetime
import redis.asyncio
from roost.actions.posts import create_post
from roost.core.settings import Settings
from roost.ports import Event
from roost.runtime import Runtime
from roost.workers import fanout

async def main(author: int, n: int) -> None:
    settings = Settings()
    base, _, name = settings.database_url.rpartition("/")
    settings = settings.model_copy(update={"database_url": f"{base}/{name}_micro", "fanout_strategy": "push", "redis_prefix": "roostmicro"})
    runtime = Runtime.build(settings)
    await runtime.start(background=False)
    r = redis.asyncio.Redis.from_url(settings.redis_url)
    async def rcpu():
        i = await r.info("cpu"); return float(i["used_cpu_user"]) + float(i["used_cpu_sys"])
    ctx = dataclasses.replace(runtime.workers, settings=settings)
    walls, cpus, rcpus, ins = [], [], [], []
    for _ in range(n):
        post_id = await create_post(runtime.db, runtime.ids, author_id=author, content="x", now=datetime.now(UTC))
        event = Event(id=post_id, topic="post.created", key=author, payload={"postId": post_id})
        rc0 = await rcpu(); c0 = time.process_time(); t0 = time.perf_counter()
        from roost.metrics import TIMELINE_INSERTS
        i0 = TIMELINE_INSERTS._value.get()
        await fanout.on_post_created(ctx, event)
        ins.append(TIMELINE_INSERTS._value.get() - i0)
        walls.append(time.perf_counter() - t0); cpus.append(time.process_time() - c0); rcpus.append(await rcpu() - rc0)
    med = lambda xs: statistics.median(xs) * 1000
    print(f"fan-out wall {med(walls):.1f} ms (min {min(walls)*1000:.1f}), worker CPU {med(cpus):.1f} ms, redis CPU {med(rcpus):.1f} ms, inserted {statistics.median(ins)}")
    await r.aclose()
    await runtime.stop()

asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 30))
