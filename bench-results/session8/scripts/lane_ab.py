import asyncio, sys, time
from datetime import UTC, datetime
from pathlib import Path
from sqlalchemy import select
from roost.adapters.sql.tables import users
from roost.core.settings import Settings
from roost.queries.feed import home_feed
from roost.runtime import Runtime

async def main():
    rt = Runtime.build(Settings(data_dir=Path("/tmp/s8/scratch"), celebrity_threshold=1000))
    await rt.start(background=False)
    try:
        async with rt.db.read() as conn:
            owners = list((await conn.execute(select(users.c.id).order_by(users.c.last_active_at.desc()).limit(1000))).scalars())
        now = datetime.now(UTC)
        for o in owners: await home_feed(rt.feed, viewer_id=o, cursor=None, limit=20, now=now)
        lane = rt.redis.lane
        res={"lane":[], "redis-py":[]}
        for rnd in range(6):
            for name in ("lane","redis-py"):
                rt.redis.lane = lane if name=="lane" else None
                c=time.process_time()
                for o in owners: await home_feed(rt.feed, viewer_id=o, cursor=None, limit=20, now=now)
                res[name].append((time.process_time()-c)/len(owners)*1000)
        for k,v in res.items(): print(k, " ".join(f"{x:.3f}" for x in v), "median", sorted(v)[len(v)//2])
    finally:
        rt.redis.lane = lane
        await rt.stop()
import uvloop
uvloop.run(main())
