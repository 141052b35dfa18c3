"""Live updates over SSE and WebSocket, against a real uvicorn server sharing the test's runtime."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
import websockets

from roost.adapters.embedded.realtime import EmbeddedRealtimeHub, RealtimeLimits
from roost.api.app import create_app
from roost.ports import Outgoing, StreamClosed
from roost.runtime import Runtime
from tests.support import FAST_PASSWORDS, PROFILES, Api, User, api_client, running

WAIT = 10.0  # bound on every wait for the network; never an assertion about speed


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the test process keeps its own signal handlers


@asynccontextmanager
async def serving(runtime: Runtime) -> AsyncIterator[str]:
    """A uvicorn server on a free port of 127.0.0.1 around the runtime; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = _Server(uvicorn.Config(create_app(runtime), log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(WAIT):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        # Streams end first, as on a real shutdown; else uvicorn waits for them.
        if runtime.workers.realtime is not None:
            await runtime.workers.realtime.hub.close()
        server.should_exit = True
        async with asyncio.timeout(WAIT):
            await task
        sock.close()


@pytest.fixture
async def base_url(runtime: Runtime) -> AsyncIterator[str]:
    async with serving(runtime) as url:
        yield url


class Sse:
    """Reads one SSE response: events as dicts, comments skipped."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()

    async def next(self) -> dict[str, Any]:
        async with asyncio.timeout(WAIT):
            event: dict[str, Any] = {}
            async for line in self._lines:
                if not line:
                    if "event" in event:
                        return event
                    event = {}
                elif not line.startswith(":"):
                    name, _, value = line.partition(":")
                    event[name] = value.removeprefix(" ")
            raise EOFError("the stream ended")

    async def next_data(self) -> tuple[str, str, dict[str, Any]]:
        e = await self.next()
        return e["event"], e["id"], orjson.loads(e["data"])

    async def ended(self) -> bool:
        try:
            await self.next()
        except EOFError:
            return True
        return False


@asynccontextmanager
async def sse(base_url: str, user: User, last_event_id: str | None = None) -> AsyncIterator[Sse]:
    headers = dict(user.headers)
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=WAIT) as client,
        client.stream("GET", "/api/stream", headers=headers) as response,
    ):
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield Sse(response)


async def test_follower_receives_post_delete_and_notification(api: Api, base_url: str) -> None:
    alice, bob = await api.register("alice"), await api.register("bob")
    await api.follow(alice, bob)
    await api.settle()
    async with sse(base_url, alice) as stream:
        post_id = await api.post(bob, "hi @alice")
        await api.settle()
        received = {}
        for _ in range(2):
            kind, _id, data = await stream.next_data()
            received[kind] = data
        assert received["feed.post"]["postId"] == post_id
        assert received["feed.post"]["author"]["username"] == "bob"
        assert received["feed.post"]["repostedBy"] is None
        assert received["notification"]["type"] == "mention"
        assert received["notification"]["post"]["postId"] == post_id
        r = await api.client.delete(f"/api/posts/{post_id}", headers=bob.headers)
        assert r.status_code == 200
        await api.settle()
        kind, _id, data = await stream.next_data()
        assert (kind, data["postId"]) == ("feed.delete", post_id)


async def test_author_sees_own_post_and_strangers_see_nothing(api: Api, base_url: str) -> None:
    bob, carol, dave = await api.register("bob"), await api.register("carol"), await api.register("dave")
    await api.follow(dave, carol)
    async with sse(base_url, bob) as bob_stream, sse(base_url, dave) as dave_stream:
        bob_post = await api.post(bob, "mine")
        await api.settle()
        carol_post = await api.post(carol, "carol's")
        await api.settle()
        assert (await bob_stream.next_data())[2]["postId"] == bob_post
        # Dave follows carol only: bob's post never reaches him, carol's is his first event.
        kind, _id, data = await dave_stream.next_data()
        assert (kind, data["postId"]) == ("feed.post", carol_post)


async def test_muted_author_is_filtered_and_repost_of_followed_author_is_skipped(
    api: Api, base_url: str
) -> None:
    alice, bob, carol = await api.register("alice"), await api.register("bob"), await api.register("carol")
    await api.follow(alice, bob)
    await api.follow(alice, carol)
    r = await api.client.post(f"/api/users/{bob.id}/mute", headers=alice.headers)
    assert r.status_code == 200
    async with sse(base_url, alice) as stream:
        await api.post(bob, "muted")
        carol_post = await api.post(carol, "original")
        await api.settle()
        r = await api.client.post(f"/api/posts/{carol_post}/repost", headers=alice.headers)
        assert r.status_code == 200
        last = await api.post(carol, "after")
        await api.settle()
        events = [await stream.next_data() for _ in range(2)]
        # Alice's own repost of a post she already has is not sent again.
        assert [(k, d["postId"]) for k, _i, d in events] == [("feed.post", carol_post), ("feed.post", last)]


async def test_reconnect_with_last_event_id_replays_exactly_the_missed_events(
    api: Api, base_url: str
) -> None:
    alice, bob = await api.register("alice"), await api.register("bob")
    await api.follow(alice, bob)
    async with sse(base_url, alice) as stream:
        first = await api.post(bob, "one")
        await api.settle()
        _kind, first_id, data = await stream.next_data()
        assert data["postId"] == first
    missed = [await api.post(bob, "two"), await api.post(bob, "three")]
    await api.settle()
    async with sse(base_url, alice, last_event_id=first_id) as stream:
        replayed = [await stream.next_data() for _ in range(2)]
        assert [d["postId"] for _k, _i, d in replayed] == missed
        assert [int(i) for _k, i, _d in replayed] == [int(first_id) + 1, int(first_id) + 2]
        live = await api.post(bob, "four")
        await api.settle()
        _kind, live_id, data = await stream.next_data()
        assert (data["postId"], int(live_id)) == (live, int(first_id) + 3)


async def test_unknown_or_too_old_last_event_id_gets_a_reset(api: Api, base_url: str) -> None:
    alice = await api.register("alice")
    async with sse(base_url, alice, last_event_id="12345") as stream:
        kind, reset_id, _data = await stream.next_data()
        assert kind == "reset"
    # Resuming from the reset's id loses nothing more: no second reset.
    async with sse(base_url, alice, last_event_id=reset_id) as stream:
        await api.follow(await api.register("bob"), alice)
        await api.settle()
        kind, next_id, data = await stream.next_data()
        assert (kind, data["type"], int(next_id)) == ("notification", "follow", int(reset_id) + 1)


async def test_bad_requests(api: Api, base_url: str) -> None:
    alice = await api.register("alice")
    async with httpx.AsyncClient(base_url=base_url, timeout=WAIT) as client:
        r = await client.get("/api/stream")
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "unauthorized"
        r = await client.get("/api/stream", headers={**alice.headers, "Last-Event-ID": "abc"})
        assert r.status_code == 400
        assert r.json()["error"]["code"] == "invalid_request"


async def test_per_user_connection_limit(api: Api, base_url: str) -> None:
    alice = await api.register("alice")
    limit = RealtimeLimits().streams_per_user
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(limit):
            await stack.enter_async_context(sse(base_url, alice))
        async with httpx.AsyncClient(base_url=base_url, timeout=WAIT) as client:
            r = await client.get("/api/stream", headers=alice.headers)
            assert r.status_code == 429
            assert r.json()["error"]["code"] == "rate_limited"


async def test_shutdown_closes_streams(api: Api, runtime: Runtime, base_url: str) -> None:
    alice = await api.register("alice")
    async with sse(base_url, alice) as stream:
        assert runtime.workers.realtime is not None
        await runtime.workers.realtime.hub.close()
        assert await stream.ended()


async def test_websocket_carries_the_same_events(api: Api, base_url: str) -> None:
    alice, bob = await api.register("alice"), await api.register("bob")
    await api.follow(alice, bob)
    ws_url = base_url.replace("http://", "ws://") + "/api/stream/ws"
    async with asyncio.timeout(WAIT):
        async with (
            websockets.connect(f"{ws_url}?accessToken={alice.token}") as by_query,
            websockets.connect(ws_url) as by_message,
        ):
            await by_message.send(orjson.dumps({"accessToken": alice.token}).decode())
            post_id = await api.post(bob, "over websockets")
            await api.settle()
            for ws in (by_query, by_message):
                message = orjson.loads(await ws.recv())
                assert message["event"] == "feed.post"
                assert message["data"]["postId"] == post_id
                assert message["id"].isdigit()
        async with websockets.connect(f"{ws_url}?accessToken=forged") as refused:
            message = orjson.loads(await refused.recv())
            assert message["data"]["error"]["code"] == "unauthorized"
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await refused.recv()
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 4401


async def test_celebrity_posts_reach_online_followers(tmp_path: Path, profile: str) -> None:
    async with running(profile, tmp_path, celebrity_threshold=1) as runtime, api_client(runtime) as api:
        alice, star = await api.register("alice"), await api.register("star")
        await api.follow(alice, star)
        await api.settle()
        async with serving(runtime) as url, sse(url, alice) as stream:
            post_id = await api.post(star, "to my many fans")
            await api.settle()
            kind, _id, data = await stream.next_data()
            assert (kind, data["postId"]) == ("feed.post", post_id)


@pytest.mark.skipif("production" not in PROFILES, reason="needs the production profile")
async def test_two_api_processes_deliver_across(tmp_path: Path) -> None:
    """A post written through process A reaches a stream held by process B (Redis pub/sub)."""
    async with running("production", tmp_path) as first, api_client(first) as api:
        second = Runtime.build(first.settings, passwords=FAST_PASSWORDS)
        await second.start(background=False)
        try:
            alice, bob = await api.register("alice"), await api.register("bob")
            await api.follow(alice, bob)
            await api.settle()
            async with serving(first), serving(second) as second_url, sse(second_url, alice) as stream:
                post_id = await api.post(bob, "across processes")
                await api.settle()  # the consumers of process A publish
                kind, _id, data = await stream.next_data()
                assert (kind, data["postId"]) == ("feed.post", post_id)
        finally:
            await second.stop()


# The hub on its own: slow consumers and replay bounds, without a server.


async def test_slow_consumer_is_cut_off_without_slowing_others() -> None:
    hub = EmbeddedRealtimeHub(RealtimeLimits(queue_size=2, replay_size=10))
    slow = await hub.open(1, last_event_id=None)
    other = await hub.open(2, last_event_id=None)
    await hub.publish([Outgoing(1, "feed.post", {"n": 0})])
    first = await slow.next(WAIT)
    assert first is not None
    received = []
    for n in range(1, 4):
        await hub.publish([Outgoing(1, "feed.post", {"n": n}), Outgoing(2, "feed.post", {"n": n})])
        received.append(await other.next(WAIT))  # a reader keeping up
    with pytest.raises(StreamClosed):
        await slow.next(WAIT)
    assert [e.data["n"] for e in received if e is not None] == [1, 2, 3]
    await slow.aclose()
    # The cut-off client resumes from the last event it got and misses nothing still buffered.
    resumed = await hub.open(1, last_event_id=first.id)
    events = [await resumed.next(WAIT) for _ in range(3)]
    assert [e.data["n"] for e in events if e is not None] == [1, 2, 3]


async def test_gap_older_than_the_buffer_resets() -> None:
    hub = EmbeddedRealtimeHub(RealtimeLimits(replay_size=2))
    stream = await hub.open(1, last_event_id=None)
    assert await hub.publish_to_user(1, "notification", {"n": 0})
    seen = await stream.next(WAIT)
    assert seen is not None
    await stream.aclose()
    for n in range(1, 4):
        assert await hub.publish_to_user(1, "notification", {"n": n})
    resumed = await hub.open(1, last_event_id=seen.id)
    event = await resumed.next(WAIT)
    assert event is not None
    assert (event.event, event.id) == ("reset", seen.id + 3)
    assert not await hub.publish_to_user(99, "notification", {})  # offline: nothing stored
