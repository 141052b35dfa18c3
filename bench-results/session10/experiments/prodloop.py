# CPU (user, sys) per warm production home-feed page in process; pages for 200 readers, N rounds
import asyncio, os, sys, time
from datetime import UTC, datetime
from pathlib import Path
from sqlalchemy import select
from roost.adapters.sql.tables import follows
from roost.core.settings import Settings
from roost.queries.feed import home_feed
from roost.runtime import Runtime
from roost.api.deps import json_body
async def main(rounds):
    rt = Runtime.build(Settings(data_dir=Path("/tmp/roost-bench/prod-small"), celebrity_threshold=1000))
    await rt.start(background=False)
    async with rt.db.read() as conn:
        owners = list((await conn.execute(select(follows.c.follower_id).distinct().limit(200))).scalars())
    now = datetime.now(UTC)
    for o in owners: json_body(await home_feed(rt.feed, viewer_id=o, cursor=None, limit=20, now=now))
    for r in range(rounds):
        t0 = os.times(); w = time.perf_counter()
        for o in owners:
            json_body(await home_feed(rt.feed, viewer_id=o, cursor=None, limit=20, now=now))
        t1 = os.times(); n = len(owners)
        print(f"user {1e6*(t1.user-t0.user)/n:.0f} us  sys {1e6*(t1.system-t0.system)/n:.0f} us  wall {1e6*(time.perf_counter()-w)/n:.0f} us per page")
    await rt.stop()
asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5))
