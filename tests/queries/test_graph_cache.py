"""Cached viewer graphs: reused while nothing changed, re-read after every change, in any process.

Two runtimes on one database stand for two server processes: changes made through one must show
on the very next page read through the other, whose cache holds the viewer's old graph.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from roost.actions import accounts, graph, posts
from roost.queries.feed import home_feed
from roost.runtime import Runtime
from tests.support import FAST_PASSWORDS, running

pytestmark = pytest.mark.parametrize("profile", ["embedded", "production"])


@asynccontextmanager
async def two_processes(
    profile: str, tmp_path: Path, **overrides: object
) -> AsyncIterator[tuple[Runtime, Runtime]]:
    async with running(profile, tmp_path, **overrides) as reader:
        writer = Runtime.build(reader.settings, passwords=FAST_PASSWORDS)
        await writer.start(background=False)
        try:
            yield reader, writer
        finally:
            await writer.stop()


async def _user(rt: Runtime, name: str) -> int:
    return await accounts.register(
        rt.db, rt.ids, rt.passwords, username=name, password="pw-123456", now=_now()
    )


def _now() -> datetime:
    return datetime.now(UTC)


async def _feed(rt: Runtime, viewer: int) -> list[int]:
    page = await home_feed(rt.feed, viewer_id=viewer, cursor=None, limit=50, now=_now())
    return [item.post_id for item in page.posts]


async def _settle(*runtimes: Runtime) -> None:
    for rt in runtimes:
        await rt.drain()


async def test_every_graph_change_shows_on_the_next_page_of_another_process(
    profile: str, tmp_path: Path
) -> None:
    async with two_processes(profile, tmp_path) as (reader, writer):
        viewer, alice, bob = [await _user(writer, n) for n in ("viewer", "alice", "bob")]
        by_alice = await posts.create_post(writer.db, writer.ids, author_id=alice, content="a", now=_now())
        by_bob = await posts.create_post(writer.db, writer.ids, author_id=bob, content="b", now=_now())
        await graph.follow(
            writer.db, writer.ids, writer.settings, follower_id=viewer, followee_id=alice, now=_now()
        )
        await _settle(writer, reader)
        assert await _feed(reader, viewer) == [by_alice]

        await graph.follow(
            writer.db, writer.ids, writer.settings, follower_id=viewer, followee_id=bob, now=_now()
        )
        await _settle(writer, reader)
        assert await _feed(reader, viewer) == [by_bob, by_alice]

        await graph.mute(writer.db, writer.ids, muter_id=viewer, muted_id=bob, now=_now())
        assert await _feed(reader, viewer) == [by_alice]
        await graph.unmute(writer.db, writer.ids, muter_id=viewer, muted_id=bob)
        assert await _feed(reader, viewer) == [by_bob, by_alice]

        # Blocked by the other side: the viewer's graph changes although the viewer did nothing.
        await graph.block(
            writer.db, writer.ids, writer.settings, blocker_id=alice, blocked_id=viewer, now=_now()
        )
        assert await _feed(reader, viewer) == [by_bob]
        await graph.unblock(writer.db, writer.ids, blocker_id=alice, blocked_id=viewer)
        assert await _feed(reader, viewer) == [by_bob]  # the block removed the follow

        await graph.unfollow(writer.db, writer.ids, writer.settings, follower_id=viewer, followee_id=bob)
        assert await _feed(reader, viewer) == []


async def test_a_tier_change_elsewhere_reaches_cached_graphs(profile: str, tmp_path: Path) -> None:
    """A promotion changes how the viewer's feed must read a followee (pulled, no longer pushed)."""
    async with two_processes(profile, tmp_path, celebrity_threshold=2) as (reader, writer):
        viewer, star, fan = [await _user(writer, n) for n in ("viewer", "star", "fan")]
        await graph.follow(
            writer.db, writer.ids, writer.settings, follower_id=viewer, followee_id=star, now=_now()
        )
        await _settle(writer, reader)
        assert await _feed(reader, viewer) == []  # cached: star is pushed to the viewer
        # The second follower makes star a celebrity: its next posts are not pushed but pulled.
        await graph.follow(
            writer.db, writer.ids, writer.settings, follower_id=fan, followee_id=star, now=_now()
        )
        post = await posts.create_post(writer.db, writer.ids, author_id=star, content="big", now=_now())
        await _settle(writer, reader)
        assert await _feed(reader, viewer) == [post]


async def test_an_unchanged_graph_is_not_read_again(profile: str, tmp_path: Path) -> None:
    async with running(profile, tmp_path) as rt:
        viewer, alice = await _user(rt, "viewer"), await _user(rt, "alice")
        await graph.follow(rt.db, rt.ids, rt.settings, follower_id=viewer, followee_id=alice, now=_now())
        await _settle(rt)
        await _feed(rt, viewer)
        rt.db.statements.reset()
        await _feed(rt, viewer)
        assert not [s for s in rt.db.statements.recent if "UNION" in s.upper()], rt.db.statements.recent
        assert len(rt.feed.graphs) == 1

        await graph.mute(rt.db, rt.ids, muter_id=viewer, muted_id=alice, now=_now())
        rt.db.statements.reset()
        await _feed(rt, viewer)
        assert [s for s in rt.db.statements.recent if "UNION" in s.upper()]


async def test_activity_recorded_by_a_read_reaches_the_cached_graph(profile: str, tmp_path: Path) -> None:
    """Reads mark the viewer active once an hour: a cached graph with the old time would mark it
    again on every page, one that never saw the new time would never mark it again."""
    async with running(profile, tmp_path) as rt:
        viewer = await _user(rt, "viewer")
        start = _now()

        async def marks_active(at: datetime) -> bool:
            rt.db.statements.reset()
            await home_feed(rt.feed, viewer_id=viewer, cursor=None, limit=20, now=at)
            return any(s.upper().startswith("UPDATE USERS") for s in rt.db.statements.recent)

        assert await marks_active(start + timedelta(hours=2))
        assert not await marks_active(start + timedelta(hours=2, minutes=1))
        assert not await marks_active(start + timedelta(hours=2, minutes=30))
        assert await marks_active(start + timedelta(hours=3, minutes=5))
        assert not await marks_active(start + timedelta(hours=3, minutes=6))
