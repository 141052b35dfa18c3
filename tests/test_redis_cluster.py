"""The production profile on a real 3-master Redis Cluster (ROOST_REDIS_CLUSTER): the same flows as on one Redis."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.asyncio.cluster import RedisCluster
from sqlalchemy import select

from roost.adapters.redis.keys import Keys
from roost.adapters.redis.realtime import RedisRealtimeHub
from roost.adapters.redis.stream import GROUP, StreamLayout
from roost.adapters.sql.tables import posts
from roost.ports import LiveStream, Outgoing, StreamEvent
from roost.runtime import Runtime, connect_redis
from tests.support import api_client, running, skip_or_fail

WAIT = 10.0  # bound on every wait; never an assertion about speed
NODES = 3


def _free_port() -> int:
    """A port free on loopback, along with its cluster bus port (port + 10000)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port + 10000 > 65535:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair found")


def _cli(*args: str) -> str:
    done = subprocess.run(["redis-cli", *args], capture_output=True, text=True, timeout=WAIT, check=False)
    return done.stdout + done.stderr


def _server_command(port: int, workdir: Path) -> list[str]:
    config = str(workdir / f"nodes-{port}.conf")
    return [
        *("redis-server", "--port", str(port), "--cluster-enabled", "yes", "--cluster-config-file", config),
        *("--dir", str(workdir), "--save", "", "--appendonly", "no", "--daemonize", "no"),
        *("--bind", "127.0.0.1"),
    ]


def _wait_until(port: int, expected: str, *command: str) -> None:
    """Polls a node with `command` until its answer contains `expected`, for at most WAIT seconds."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if expected in _cli("-p", str(port), *command):
            return
        time.sleep(0.1)
    raise RuntimeError(f"Redis Cluster node {port}: no {expected!r} within {WAIT} s")


@pytest.fixture(scope="module")
def cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh 3-master Redis Cluster on loopback for this module; its URL names one node."""
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        skip_or_fail("redis-server / redis-cli not installed: cannot start a Redis Cluster")
    workdir = tmp_path_factory.mktemp("redis-cluster")
    ports: list[int] = []
    servers: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(NODES):
            port = _free_port()
            ports.append(port)
            servers.append(
                subprocess.Popen(
                    _server_command(port, workdir),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        for port in ports:
            _wait_until(port, "PONG", "ping")
        created = _cli(
            "--cluster",
            "create",
            *(f"127.0.0.1:{p}" for p in ports),
            "--cluster-replicas",
            "0",
            "--cluster-yes",
        )
        if "All 16384 slots covered" not in created:
            raise RuntimeError(f"redis-cli --cluster create failed:\n{created}")
        for port in ports:
            _wait_until(port, "cluster_state:ok", "cluster", "info")
        yield f"redis://127.0.0.1:{ports[0]}"
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            try:
                server.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=WAIT)


async def next_event(stream: LiveStream) -> StreamEvent:
    event = await stream.next(WAIT)
    assert event is not None, "no event within the wait bound"
    return event


async def _stored_like_count(rt: Runtime, post_id: str) -> int:
    async with rt.db.read() as conn:
        return int(await conn.scalar(select(posts.c.like_count).where(posts.c.id == int(post_id))) or 0)


async def test_production_profile_runs_on_redis_cluster(cluster_url: str, tmp_path: Path) -> None:
    # Two followers make carol a celebrity: her posts are pulled from her recent list, bob's pushed.
    # Four partitions over three masters: the stream's partitions live on different nodes.
    async with (
        running(
            "production",
            tmp_path,
            redis_url=cluster_url,
            redis_cluster=True,
            celebrity_threshold=2,
            stream_partitions=4,
        ) as rt,
        api_client(rt) as api,
    ):
        client = rt.redis
        assert isinstance(client, RedisCluster)
        alice, bob, carol, dave = [await api.register(n) for n in ("alice", "bob", "carol", "dave")]
        await api.follow(alice, bob)
        await api.follow(alice, carol)
        await api.follow(dave, carol)
        await api.settle()

        # alice is connected: the post fan-out reaches her live stream through the hub.
        assert rt.workers.realtime is not None
        hub = rt.workers.realtime.hub
        live = await hub.open(int(alice.id), last_event_id=None)

        posts_by = {bob.id: [], carol.id: []}  # type: dict[str, list[str]]
        for i in range(5):
            for author in (bob, carol):
                posts_by[author.id].insert(0, await api.post(author, f"post {i}"))
        await api.settle()

        # Relayed to the partition streams and consumed: nothing left pending in any partition.
        layout = StreamLayout(rt.settings.redis_prefix, rt.settings.stream_partitions)
        lengths = [await client.xlen(s) for s in layout.streams]
        assert sum(lengths) > 0
        for stream in layout.streams:
            assert (await client.xpending(stream, GROUP))["pending"] == 0

        # Feeds exact, pushed and pulled, across pages.
        everything = sorted(posts_by[bob.id] + posts_by[carol.id], key=int, reverse=True)
        assert await api.feed_ids(alice, limit=3) == everything
        assert await api.feed_ids(dave, limit=4) == posts_by[carol.id]
        keys = Keys(rt.settings.redis_prefix)
        # Served by Redis: alice's timeline was pushed to, carol's recent list filled by the pull.
        assert await client.exists(keys.timeline(int(alice.id))) == 1
        assert await client.exists(keys.recent(int(carol.id))) == 1
        assert await client.exists(keys.timeline(int(dave.id))) == 1

        streamed = [await next_event(live) for _ in range(10)]
        assert {e.event for e in streamed} == {"feed.post"}
        assert sorted((e.data["postId"] for e in streamed), key=int, reverse=True) == everything
        await live.aclose()

        # Likes on posts of many counter shards: live from Redis before the flush, stored after it.
        liked = everything[:6]
        for fan in (alice, dave):
            for post_id in liked:
                r = await api.client.post(f"/api/posts/{post_id}/like", headers=fan.headers)
                assert r.status_code == 200, r.text
        r = await api.client.get("/api/feed", params={"limit": 6}, headers=alice.headers)
        assert [(p["postId"], p["likeCount"]) for p in r.json()["posts"]] == [(p, 2) for p in liked]
        assert await _stored_like_count(rt, liked[0]) == 0  # still buffered in Redis
        await api.settle()
        for post_id in liked:
            assert await _stored_like_count(rt, post_id) == 2
            assert (await api.client.get(f"/api/posts/{post_id}")).json()["likeCount"] == 2

        # A second API process publishes to a user whose stream this one holds.
        other_client = connect_redis(cluster_url, cluster=True)
        other = RedisRealtimeHub(other_client, prefix=rt.settings.redis_prefix)
        try:
            dave_live = await hub.open(int(dave.id), last_event_id=None)
            assert await other.publish_to_user(int(dave.id), "notification", {"type": "like"})
            await other.publish([Outgoing(int(dave.id), "feed.post", {"postId": "1"})])
            first, second = await next_event(dave_live), await next_event(dave_live)
            assert (first.event, first.data, second.event) == ("notification", {"type": "like"}, "feed.post")
            assert second.id == first.id + 1
            await dave_live.aclose()
        finally:
            await other.close()
            await other_client.aclose()


async def test_a_warm_page_pulls_several_celebrities_on_a_cluster(cluster_url: str, tmp_path: Path) -> None:
    # Each celebrity's list lives in its own slot: one script call each, in one pipeline.
    async with (
        running(
            "production", tmp_path, redis_url=cluster_url, redis_cluster=True, celebrity_threshold=2
        ) as rt,
        api_client(rt) as api,
    ):
        reader, fan = await api.register(), await api.register()
        stars = [await api.register() for _ in range(3)]
        for star in stars:
            for follower in (reader, fan):
                await api.follow(follower, star)
        await api.settle()
        assert await api.feed_ids(reader) == []
        expected = [await api.post(star, f"by {i}") for i in range(2) for star in stars][::-1]
        await api.settle()
        for _ in range(3):
            assert await api.feed_ids(reader, limit=2) == expected
