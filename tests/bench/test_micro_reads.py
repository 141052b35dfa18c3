"""Item 4 of `roost bench micro`: the three readers' reads are timed in turns, each counted apart."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from roost.actions import accounts, graph, posts
from roost.bench import micro
from tests.support import running


async def test_each_reader_gets_its_own_latencies_and_statement_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(micro, "READ_SAMPLES", 3)
    monkeypatch.setattr(micro, "WARM_READS", 1)
    now = datetime.now(UTC)
    async with running("embedded", tmp_path, celebrity_threshold=1) as rt:

        async def user(name: str) -> int:
            return await accounts.register(
                rt.db, rt.ids, rt.passwords, username=name, password="pw-123456", now=now
            )

        lonely, fan, star, other = [await user(n) for n in ("lonely", "fan", "star", "other")]
        # star is a celebrity (threshold 1): the "10" and "50" readers follow it, "0" nobody.
        for follower in (fan, other):
            await graph.follow(rt.db, rt.ids, rt.settings, follower_id=follower, followee_id=star, now=now)
        await posts.create_post(rt.db, rt.ids, author_id=star, content="hello", now=now)
        await rt.drain()
        uid = [0] * (max(micro.READERS.values()) + 1)
        for count, viewer in zip(("0", "10", "50"), (lonely, fan, other), strict=True):
            uid[micro.READERS[count]] = viewer

        reads = await micro._reads_by_celebrities(rt, uid, now)

    assert set(reads) == {"0", "10", "50"}
    assert all(r["count"] == 3 for r in reads.values())
    # Following a pulled author costs the pull statement: the counts are per reader, not shared.
    assert reads["10"]["db_queries_per_read"] == reads["50"]["db_queries_per_read"]
    assert reads["0"]["db_queries_per_read"] < reads["10"]["db_queries_per_read"]
