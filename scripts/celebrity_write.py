"""Write cost of a post by a celebrity with N followers (embedded profile): commit, and commit + fan-out.

Usage: python scripts/celebrity_write.py 1000000
Loads N followers straight into a scratch SQLite database, then times 200 posts by the celebrity.
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from roost.actions.posts import create_post
from roost.core.settings import Settings
from roost.runtime import Runtime


def _load(db_path: Path, star: int, followers: int, first_id: int) -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    con = sqlite3.connect(db_path)
    con.execute("PRAGMA synchronous=OFF")
    con.executemany(
        "INSERT INTO users (id, username, username_key, password_hash, last_active_at, created_at)"
        " VALUES (?, ?, ?, 'x', ?, ?)",
        ((first_id + i, f"f{i}", f"f{i}", now, now) for i in range(followers)),
    )
    con.executemany(
        "INSERT INTO follows (follower_id, followee_id, id, created_at) VALUES (?, ?, ?, ?)",
        ((first_id + i, star, first_id + i, now) for i in range(followers)),
    )
    con.execute("UPDATE users SET follower_count = ?, is_celebrity = 1 WHERE id = ?", (followers, star))
    con.execute("UPDATE users SET following_count = 1 WHERE id >= ?", (first_id,))
    con.commit()
    con.close()


async def main(followers: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings(data_dir=Path(scratch), secret_key="x" * 40)
        rt = Runtime.build(settings)
        await rt.start(background=False)
        now = datetime.now(UTC)
        star = rt.ids.next_id()
        async with rt.db.transaction() as conn:
            from roost.adapters.sql.tables import users

            await conn.execute(
                users.insert().values(
                    id=star,
                    username="star",
                    username_key="star",
                    password_hash="x",
                    last_active_at=now,
                    created_at=now,
                )
            )
        started = time.perf_counter()
        _load(Path(scratch) / "roost.db", star, followers, first_id=star + 1_000_000)
        print(f"loaded {followers} followers in {time.perf_counter() - started:.1f} s")
        commit_ms: list[float] = []
        total_ms: list[float] = []
        for i in range(200):
            t = time.perf_counter()
            await create_post(rt.db, rt.ids, author_id=star, content=f"hello fans {i}", now=now)
            commit_ms.append((time.perf_counter() - t) * 1000)
            await rt.drain()  # the fan-out consumer: nothing to push for a celebrity
            total_ms.append((time.perf_counter() - t) * 1000)
        for name, values in (("commit", commit_ms), ("commit + fan-out", total_ms)):
            values.sort()
            print(
                f"{name}: p50 {statistics.median(values):.2f} ms, p99 {values[int(len(values) * 0.99) - 1]:.2f} ms"
            )
        await rt.stop()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
