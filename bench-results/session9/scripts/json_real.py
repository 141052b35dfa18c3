import asyncio, shutil, sys, tempfile, time, timeit
from datetime import UTC, datetime
from pathlib import Path
from sqlalchemy import select
from roost.adapters.sql.tables import timeline_meta
from roost.core.settings import Settings
from roost.queries.feed import home_feed
from roost.runtime import Runtime
from roost.api.deps import json_body
async def main(seeded):
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "data"; shutil.copytree(seeded, data)
        rt = Runtime.build(Settings(data_dir=data, celebrity_threshold=1000))
        await rt.start(background=False)
        async with rt.db.read() as conn:
            owners = list((await conn.execute(select(timeline_meta.c.owner_id).limit(200))).scalars())
        now = datetime.now(UTC)
        pages = [await home_feed(rt.feed, viewer_id=o, cursor=None, limit=20, now=now) for o in owners]
        t = time.process_time()
        for _ in range(10):
            for p in pages: json_body(p)
        print("json per page us", (time.process_time()-t)/10/len(pages)*1e6, "bytes", sum(len(json_body(p)) for p in pages)/len(pages))
        n = sum(len(p.posts) for p in pages)/len(pages)
        print("items per page", n, "with media", sum(bool(i.media) for p in pages for i in p.posts)/len(pages), "mentions", sum(len(i.mentions) for p in pages for i in p.posts)/len(pages), "quotes", sum(i.quote_of is not None for p in pages for i in p.posts)/len(pages), "reposts", sum(i.reposted_by is not None for p in pages for i in p.posts)/len(pages))
        await rt.stop()
asyncio.run(main(Path(sys.argv[1])))
