"""Warm feed pages in process, for icount.sh: each page read and serialized as the API sends it.

Usage: python warm_reps.py DATA_DIR READERS PASSES  (embedded data seeded by `roost bench seed`;
read from a copy).
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from roost.adapters.sql.tables import timeline_meta
from roost.api.deps import json_body
from roost.core.settings import Settings
from roost.queries.feed import home_feed
from roost.runtime import Runtime


async def main(seeded: Path, readers: int, passes: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "data"
        shutil.copytree(seeded, data)
        rt = Runtime.build(Settings(data_dir=data, celebrity_threshold=1000))
        await rt.start(background=False)
        try:
            async with rt.db.read() as conn:
                query = select(timeline_meta.c.owner_id).limit(readers)
                owners = list((await conn.execute(query)).scalars())
            now = datetime.now(UTC)
            for _ in range(passes):
                for owner in owners:
                    json_body(await home_feed(rt.feed, viewer_id=owner, cursor=None, limit=20, now=now))
        finally:
            await rt.stop()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])))
