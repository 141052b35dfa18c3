"""Warm home-feed reads in process on seeded data: CPU per page and statements.

Usage: python scripts/warm_feed_read.py /tmp/roost-bench/small [readers, default 200]  (made by
`roost bench seed --preset small`)
Embedded: reads a copy of the directory. With ROOST_DATABASE_URL and ROOST_REDIS_URL set (production,
seeded with the same command), reads the seeded PostgreSQL database and Redis timelines in place.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from roost.adapters.sql.tables import timeline_meta, users
from roost.core.settings import Settings
from roost.queries.feed import home_feed
from roost.runtime import Runtime


async def main(seeded: Path, readers: int = 200) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "data"
        production = Settings().database_url is not None
        if not production:
            shutil.copytree(seeded, data)
        rt = Runtime.build(Settings(data_dir=data, celebrity_threshold=1000))
        await rt.start(background=False)
        try:
            async with rt.db.read() as conn:
                # Readers with a materialized timeline: the most recently active accounts.
                query = (
                    select(users.c.id).order_by(users.c.last_active_at.desc()).limit(readers)
                    if production
                    else select(timeline_meta.c.owner_id).limit(readers)
                )
                owners = list((await conn.execute(query)).scalars())
            now = datetime.now(UTC)
            for owner in owners:  # first reads: activity updates, caches
                await home_feed(rt.feed, viewer_id=owner, cursor=None, limit=20, now=now)
            rt.db.statements.reset()
            wall, cpu = time.perf_counter(), time.process_time()
            for owner in owners:
                await home_feed(rt.feed, viewer_id=owner, cursor=None, limit=20, now=now)
            n = len(owners)
            print(
                f"warm read: wall {(time.perf_counter() - wall) / n * 1000:.2f} ms, "
                f"cpu {(time.process_time() - cpu) / n * 1000:.2f} ms, "
                f"statements {rt.db.statements.count / n:.1f} per page ({n} readers)"
            )
        finally:
            await rt.stop()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), *(int(n) for n in sys.argv[2:3])))
