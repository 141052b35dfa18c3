"""Warm home-feed reads in process on a copy of seeded embedded data: CPU per page and statements.

Usage: python scripts/warm_feed_read.py /tmp/roost-bench/small  (made by `roost bench seed --preset small`)
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

from roost.adapters.sql.tables import timeline_meta
from roost.core.settings import Settings
from roost.queries.feed import home_feed
from roost.runtime import Runtime


async def main(seeded: Path, readers: int = 200) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "data"
        shutil.copytree(seeded, data)
        rt = Runtime.build(Settings(data_dir=data, celebrity_threshold=1000))
        await rt.start(background=False)
        try:
            async with rt.db.read() as conn:
                owners = list((await conn.execute(select(timeline_meta.c.owner_id).limit(readers))).scalars())
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
    asyncio.run(main(Path(sys.argv[1])))
