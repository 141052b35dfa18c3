"""Fan-out's follower paging: every active follower once, in id order, a batch at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from roost.adapters.sql.tables import follows, users
from roost.workers import fanout
from tests.support import running

FOLLOWERS = 2_600


async def test_pages_cover_active_followers_once(profile: str, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    async with running(profile, tmp_path, fanout_batch_size=1_000) as rt:
        author = 1
        # Every third follower has been away longer than the inactivity cutoff: not pushed to.
        people = [
            {
                "id": i,
                "username": f"u{i}",
                "username_key": f"u{i}",
                "password_hash": "x",
                "last_active_at": now - timedelta(days=90 if i % 3 == 0 else 1),
                "created_at": now,
            }
            for i in range(1, FOLLOWERS + 2)
        ]
        edges = [
            {"follower_id": i, "followee_id": author, "id": i, "created_at": now}
            for i in range(2, FOLLOWERS + 2)
        ]
        async with rt.db.transaction() as conn:
            await conn.execute(insert(users), people)
            await conn.execute(insert(follows), edges)

        cutoff = now - timedelta(days=rt.settings.inactive_days)
        pages = [page async for page in fanout._follower_batches(rt.workers, author, active_since=cutoff)]
        active = [i for i in range(2, FOLLOWERS + 2) if i % 3 != 0]
        assert [len(p) for p in pages] == [1_000, len(active) - 1_000]
        assert [f for page in pages for f in page] == active

        everyone = [page async for page in fanout._follower_batches(rt.workers, author, active_since=None)]
        assert [f for page in everyone for f in page] == list(range(2, FOLLOWERS + 2))
