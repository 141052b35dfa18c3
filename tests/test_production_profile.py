"""The production profile's promises: exact feeds through a Redis flush, degraded modes that recover,
`roost serve` refusing an unmigrated database, and index scans for the hot queries on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio.connection
import uvicorn
from sqlalchemy import make_url
from typer.testing import CliRunner

import roost.runtime
from roost import cli
from roost.adapters.redis import lane
from roost.adapters.redis.keys import Keys
from roost.adapters.sql import migrate
from roost.core.errors import Unavailable
from roost.queries import feed
from roost.queries.feed import recent_post_ids
from roost.runtime import Runtime
from roost.workers import fanout
from tests.support import (
    REDIS_URL,
    Api,
    api_client,
    create_pg_database,
    delete_redis_prefix,
    drop_pg_database,
    pg_url,
    running,
    session_pg_url,
)


class TcpProxy:
    """A TCP relay to a service that a test can cut (connections dropped, new ones refused) and restore."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    @classmethod
    @asynccontextmanager
    async def to(cls, host: str, port: int) -> AsyncIterator[TcpProxy]:
        proxy = cls(host, port)
        await proxy.restore()
        try:
            yield proxy
        finally:
            await proxy.cut()

    async def restore(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()
            self._writers.discard(writer)


async def _readyz(api: Api) -> tuple[int, dict[str, str]]:
    r = await api.client.get("/readyz")
    return r.status_code, r.json()["checks"]


async def test_feeds_stay_exact_when_redis_is_flushed(tmp_path: Path) -> None:
    # Two followers make carol a celebrity: her posts are pulled from her recent list, bob's pushed.
    async with running("production", tmp_path, celebrity_threshold=2) as rt, api_client(rt) as api:
        alice, bob, carol, dave = [await api.register(n) for n in ("alice", "bob", "carol", "dave")]
        await api.follow(alice, bob)
        await api.follow(alice, carol)
        await api.follow(dave, carol)
        posts = {bob.id: [], carol.id: []}  # type: dict[str, list[str]]
        for i in range(6):
            for author in (bob, carol):
                posts[author.id].insert(0, await api.post(author, f"post {i}"))
        await api.settle()
        everything = sorted(posts[bob.id] + posts[carol.id], key=int, reverse=True)
        assert await api.feed_ids(alice, limit=3) == everything
        assert await api.feed_ids(dave, limit=4) == posts[carol.id]
        client, keys = _redis(rt), Keys(rt.settings.redis_prefix)
        materialized = (keys.timeline(int(alice.id)), keys.recent(int(carol.id)))
        assert await client.exists(*materialized) == 2

        await delete_redis_prefix(client, rt.settings.redis_prefix)
        assert await client.exists(*materialized) == 0
        assert await api.feed_ids(alice, limit=3) == everything
        assert await api.feed_ids(dave, limit=4) == posts[carol.id]
        later = [await api.post(bob, "after the flush"), await api.post(carol, "me too")][::-1]
        await api.settle()
        assert await api.feed_ids(alice, limit=3) == later + everything
        assert await api.feed_ids(dave, limit=4) == [later[0], *posts[carol.id]]
        # Rebuilt lazily by the reads: Redis serves them again.
        assert await client.exists(*materialized) == 2


def _redis(rt: Runtime) -> Any:
    assert rt.redis is not None
    return rt.redis


async def test_redis_outage_degrades_feeds_and_recovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(roost.runtime, "REDIS_RETRY_SECONDS", 0.0)
    redis_url = make_url(REDIS_URL)
    async with TcpProxy.to(redis_url.host or "127.0.0.1", redis_url.port or 6379) as proxy:
        proxied = f"redis://127.0.0.1:{proxy.port}/0"
        async with running("production", tmp_path, redis_url=proxied) as rt, api_client(rt) as api:
            alice, bob = await api.register("alice"), await api.register("bob")
            await api.follow(alice, bob)
            first = await api.post(bob, "before")
            await api.settle()
            assert await api.feed_ids(alice) == [first]

            await proxy.cut()
            assert await _readyz(api) == (503, {"database": "up", "redis": "down"})
            second = await api.post(bob, "during the outage")
            carol = await api.register("carol")
            await api.follow(carol, bob)
            # Read from the database: exact, and the post shows before any fan-out ran.
            assert await api.feed_ids(alice) == [second, first]
            assert await api.feed_ids(carol) == [second, first]
            # A like while the counter buffer is down still counts, straight in the column.
            r = await api.client.post(f"/api/posts/{second}/like", headers=alice.headers)
            assert (r.status_code, r.json()["likeCount"]) == (200, 1)
            with pytest.raises(Unavailable):
                await api.settle()  # the events wait in the outbox

            await proxy.restore()
            assert await _readyz(api) == (200, {"database": "up", "redis": "up"})
            await api.settle()
            assert await api.feed_ids(alice) == [second, first]
            assert await api.feed_ids(carol) == [second, first]
            window = await rt.workers.timelines.window(int(alice.id), before=None, limit=10)
            assert window is not None
            assert window.post_ids == [int(second), int(first)]
            r = await api.client.get(f"/api/posts/{second}", headers=carol.headers)
            assert r.json()["likeCount"] == 1


async def test_database_outage_answers_503_and_recovers(tmp_path: Path) -> None:
    url = make_url(await session_pg_url())
    async with TcpProxy.to(url.host or "127.0.0.1", url.port or 5432) as proxy:
        proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        async with running("production", tmp_path, database_url=proxied) as rt, api_client(rt) as api:
            alice = await api.register("alice")
            post_id = await api.post(alice, "hello")

            await proxy.cut()
            for r in (
                await api.client.get("/api/feed", headers=alice.headers),
                await api.client.post("/api/posts", json={"content": "lost?"}, headers=alice.headers),
            ):
                assert r.status_code == 503
                assert r.json()["error"]["code"] == "unavailable"
            assert await _readyz(api) == (503, {"database": "down", "redis": "up"})

            await proxy.restore()
            assert await _readyz(api) == (200, {"database": "up", "redis": "up"})
            await api.settle()
            assert await api.feed_ids(alice) == [post_id]


# A graph big enough for the planner to prefer indexes: 5,000 users, 30,000 posts, user 1 followed by 2,000.
_SEED = (
    """INSERT INTO users (id, username, username_key, password_hash, last_active_at, created_at)
    SELECT g, 'u' || g, 'u' || g, 'x', now() - (g % 60) * interval '1 day', now()
    FROM generate_series(1, 5000) g""",
    """INSERT INTO posts (id, author_id, content, hashtags, mentions, media, created_at)
    SELECT 1000000 + g, g % 5000 + 1, 'p', '[]'::json, '[]'::json, '[]'::json, now()
    FROM generate_series(1, 30000) g""",
    """INSERT INTO follows (follower_id, followee_id, id, created_at)
    SELECT g, 1, g, now() FROM generate_series(2, 2001) g""",
    """INSERT INTO follows (follower_id, followee_id, id, created_at)
    SELECT f, (f * 7 + k * 13) % 4999 + 2, f * 100 + k, now()
    FROM generate_series(2, 5000) f, generate_series(1, 4) k
    ON CONFLICT DO NOTHING""",
    "ANALYZE",
)


@pytest.mark.parametrize("stars", [1, 9])
async def test_a_warm_page_waits_on_redis_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stars: int
) -> None:
    # The timeline window and the celebrity pull share one round trip (one script), the buffered
    # counts take the other (they must be read after the database's counts).
    async with running("production", tmp_path, celebrity_threshold=2) as rt, api_client(rt) as api:
        reader, friend = await api.register(), await api.register()
        celebrities = [await api.register() for _ in range(stars)]
        for star in celebrities:
            for fan in (reader, friend):
                await api.follow(fan, star)  # promoted: 2 followers
        await api.follow(reader, friend)
        assert await api.feed_ids(reader) == []
        expected = [await api.post(star, "pulled") for star in celebrities]
        expected = [*expected, await api.post(friend, "pushed")][::-1]
        await api.settle()
        for _ in range(3):  # warms this process's caches, fills the celebrities' lists (4 a page)
            assert await api.feed_ids(reader) == expected
        sends = 0
        send = redis.asyncio.connection.AbstractConnection.send_packed_command
        request = lane.LaneConnection.request

        async def counted_send(self: Any, command: Any, check_health: bool = True) -> None:
            nonlocal sends
            sends += 1
            await send(self, command, check_health)

        async def counted_request(self: Any, *args: Any) -> list[Any]:
            nonlocal sends
            sends += 1
            return await request(self, *args)

        monkeypatch.setattr(redis.asyncio.connection.AbstractConnection, "send_packed_command", counted_send)
        monkeypatch.setattr(lane.LaneConnection, "request", counted_request)
        assert await api.feed_ids(reader) == expected
        assert sends == 2


async def test_hot_queries_use_indexes_on_postgresql(tmp_path: Path) -> None:
    """The feed's rebuild and fallback queries and fan-out's follower paging, on a seeded graph."""
    async with running("production", tmp_path) as rt:
        async with rt.db.transaction() as conn:
            for statement in _SEED:
                await conn.exec_driver_sql(statement)
        followees = list(range(2, 202))
        plans: dict[str, str] = {}
        async with rt.db.read() as conn:
            for name, before, limit in (("rebuild", None, 800), ("fallback", 1_020_000, 21)):
                assert (
                    len(await recent_post_ids(conn, followees, before=before, floor=0, limit=limit)) == limit
                )
                params = {"authors": followees, "before": before, "floor": 0, "limit": limit}
                plans[name] = await feed._RECENT_POSTS[(before is not None, False)].explain(conn, params)
            # Batches small against the seeded table, as 1,000 are against millions of followers.
            since = datetime.now(UTC) - timedelta(days=30)
            paging: dict[str, Any] = {"author": 1, "after": 0, "limit": 100, "since": since}
            assert len(await fanout._ACTIVE_FOLLOWERS.fetch(conn, paging)) == 100
            plans["fanout"] = await fanout._ACTIVE_FOLLOWERS.explain(conn, paging)
    for name, plan in plans.items():
        assert "Index" in plan, f"{name}: {plan}"
        assert "Seq Scan" not in plan, f"{name}: {plan}"


def test_serve_refuses_an_unmigrated_database_until_migrate(monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: served.append(a))
    name = asyncio.run(create_pg_database("cli"))
    try:
        monkeypatch.setenv("ROOST_DATABASE_URL", pg_url(name))
        monkeypatch.setenv("ROOST_SECRET_KEY", "test-secret-key-" + "x" * 32)
        runner = CliRunner()
        refused = runner.invoke(cli.app, ["serve"])
        assert refused.exit_code == 1
        assert refused.output.strip().splitlines() == [
            f"roost: the database is not migrated (head is {migrate.head_revision()}); run `roost migrate`"
        ]
        assert served == []
        migrated = runner.invoke(cli.app, ["migrate"])
        assert migrated.exit_code == 0, migrated.output
        assert runner.invoke(cli.app, ["serve"]).exit_code == 0
        assert len(served) == 1
    finally:
        asyncio.run(drop_pg_database(name))
