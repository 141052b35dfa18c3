import asyncio, shutil, sys, tempfile, time
from datetime import UTC, datetime
from pathlib import Path
from sqlalchemy import select
from roost.adapters.sql.tables import timeline_meta
from roost.core.settings import Settings
from roost.queries.feed import home_feed
from roost.runtime import Runtime

async def main(seeded, loops):
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "data"; shutil.copytree(seeded, data)
        rt = Runtime.build(Settings(data_dir=data, celebrity_threshold=1000))
        await rt.start(background=False)
        async with rt.db.read() as conn:
            owners = list((await conn.execute(select(timeline_meta.c.owner_id).limit(400))).scalars())
        now = datetime.now(UTC)
        for o in owners: await home_feed(rt.feed, viewer_id=o, cursor=None, limit=20, now=now)
        cpu = time.process_time()
        for _ in range(loops):
            for o in owners: await home_feed(rt.feed, viewer_id=o, cursor=None, limit=20, now=now)
        print("cpu/page ms", (time.process_time()-cpu)/loops/len(owners)*1000)
        await rt.stop()
asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2])))
