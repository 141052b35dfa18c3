"""Handle every unsent outbox event of an embedded data directory, as the server's relay would.

Usage: python scripts/drain_outbox.py /tmp/roost-bench/small [celebrity threshold, default 1000]
A run that posts faster than the embedded server fans out leaves events in the outbox; the next
server started on the directory would spend its first seconds on them and skew that run. The
benchmark set drains the directory between posting runs.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from roost.adapters.sql.tables import outbox
from roost.core.settings import Settings
from roost.runtime import Runtime


async def unsent(runtime: Runtime) -> int:
    async with runtime.db.read() as conn:
        return int(
            await conn.scalar(select(func.count()).select_from(outbox).where(outbox.c.sent_at.is_(None))) or 0
        )


async def main(data_dir: Path, threshold: int) -> None:
    runtime = Runtime.build(Settings(data_dir=data_dir, celebrity_threshold=threshold))
    await runtime.start(background=False)
    try:
        before, started = await unsent(runtime), time.perf_counter()
        await runtime.drain()
        print(
            f"{before} unsent events handled in {time.perf_counter() - started:.1f} s; {await unsent(runtime)} left"
        )
    finally:
        await runtime.stop()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 1000))
