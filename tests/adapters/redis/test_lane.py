"""The lean Redis lane of the hot pipelines: the same replies and errors as redis-py, and no
connection reused after a round trip that did not end cleanly."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import hiredis
import pytest
import redis.asyncio
import uvloop
from redis.exceptions import BusyLoadingError, NoScriptError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from tests.adapters.redis.conftest import REDIS_URL

from roost.adapters.redis import idsets
from roost.adapters.redis.lane import LaneRedis, RedisLane
from roost.runtime import connect_redis


@pytest.fixture
async def lane(client: redis.asyncio.Redis) -> AsyncIterator[RedisLane]:
    made = RedisLane(host="127.0.0.1", port=6379, connect_timeout=1.0, timeout=0.5)
    yield made
    await made.aclose()


async def _connection_id(lane: RedisLane) -> int:
    (reply,) = await lane.pipeline([("CLIENT", "ID")])
    return int(reply)


async def test_replies_in_order_with_error_replies_as_exceptions(lane: RedisLane, prefix: str) -> None:
    key = f"{prefix}:k"
    replies = await lane.pipeline(
        [("SET", key, b"\x00v"), ("GET", key), ("INCR", key), ("EVALSHA", "0" * 40, 0), ("DEL", key)]
    )
    assert replies[:2] == [b"OK", b"\x00v"]
    assert isinstance(replies[2], ResponseError)
    assert isinstance(replies[3], NoScriptError)
    assert replies[4] == 1


async def test_one_connection_serves_round_trips_one_after_another(lane: RedisLane) -> None:
    assert await _connection_id(lane) == await _connection_id(lane)


async def test_a_connection_the_server_closed_is_replaced(
    client: redis.asyncio.Redis, lane: RedisLane
) -> None:
    first = await _connection_id(lane)
    await client.client_kill_filter(_id=str(first))
    await asyncio.sleep(0.05)  # the close reaches the lane's connection
    assert await _connection_id(lane) != first


async def test_a_late_answer_times_out_and_its_connection_is_not_reused(lane: RedisLane, prefix: str) -> None:
    first = await _connection_id(lane)
    with pytest.raises(RedisTimeoutError):
        await lane.pipeline([("BLPOP", f"{prefix}:never", 2)])
    # The BLPOP's reply would come later on that connection: a new one answers.
    assert await lane.pipeline([("PING",)]) == [b"PONG"]
    assert await _connection_id(lane) != first


async def test_a_cancelled_round_trip_leaves_no_reply_behind(lane: RedisLane, prefix: str) -> None:
    waiting = asyncio.create_task(lane.pipeline([("BLPOP", f"{prefix}:never", 0.2)]))
    await asyncio.sleep(0.05)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await asyncio.sleep(0.3)  # the BLPOP's nil reply has been sent by now
    assert await lane.pipeline([("PING",), ("ECHO", b"x")]) == [b"PONG", b"x"]


async def test_the_database_of_the_url_is_selected(client: redis.asyncio.Redis, prefix: str) -> None:
    other = connect_redis(REDIS_URL.rsplit("/", 1)[0] + "/5")
    assert isinstance(other, LaneRedis)
    assert other.lane is not None
    key = f"{prefix}:db5"
    try:
        assert await idsets.pipeline(other, [(b"SET", key, b"five")]) == [b"OK"]
        assert await client.get(key) is None  # database 0
        assert await other.get(key) == b"five"
    finally:
        await other.delete(key)
        await other.aclose()


async def test_a_refused_setup_is_a_connection_error() -> None:
    # The test server has no password: AUTH fails, and the lane reports Redis as unusable.
    refused = RedisLane(host="127.0.0.1", port=6379, password="not-the-password", timeout=1.0)
    try:
        with pytest.raises(RedisConnectionError):
            await refused.pipeline([("PING",)])
    finally:
        await refused.aclose()


async def test_nothing_listening_is_a_connection_error() -> None:
    nowhere = RedisLane(host="127.0.0.1", port=1, connect_timeout=1.0, timeout=1.0)
    with pytest.raises(RedisConnectionError):
        await nowhere.pipeline([("PING",)])


async def test_a_closed_lane_closes_connections_still_in_use_when_they_finish(
    lane: RedisLane, prefix: str
) -> None:
    busy = asyncio.create_task(lane.pipeline([("BLPOP", f"{prefix}:never", 0.1)]))
    await asyncio.sleep(0.02)
    await lane.aclose()
    assert await busy == [None]
    with pytest.raises(RedisConnectionError):
        await lane.pipeline([("PING",)])


def test_only_plain_tcp_resp2_clients_get_a_lane() -> None:
    assert RedisLane.of_client(redis.asyncio.Redis.from_url(REDIS_URL)) is not None
    assert RedisLane.of_client(redis.asyncio.Redis.from_url("unix:///tmp/redis.sock")) is None
    assert RedisLane.of_client(redis.asyncio.Redis.from_url("rediss://127.0.0.1:6379/0")) is None
    assert RedisLane.of_client(redis.asyncio.Redis.from_url(REDIS_URL, protocol=3)) is None


def test_the_lane_runs_on_uvloop(prefix: str) -> None:
    # The servers run on uvloop, whose transports are not asyncio's classes.
    async def round_trips() -> list[object]:
        lane = RedisLane(host="127.0.0.1", port=6379, timeout=1.0)
        try:
            first = await lane.pipeline([("SET", f"{prefix}:u", b"1"), ("GET", f"{prefix}:u")])
            return [*first, *await lane.pipeline([("DEL", f"{prefix}:u")])]
        finally:
            await lane.aclose()

    assert uvloop.run(round_trips()) == [b"OK", b"1", 1]


Reply = Callable[[list[bytes]], Awaitable[bytes]]


@asynccontextmanager
async def _fake_redis(reply: Reply) -> AsyncIterator[int]:
    """A server on a free port answering each command with `reply(command)`."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        parser = hiredis.Reader()
        try:
            while data := await reader.read(65536):
                parser.feed(data)
                while (command := parser.gets()) is not False:
                    writer.write(await reply(command))
                    await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def test_a_loading_server_is_a_connection_error_as_with_redis_py() -> None:
    async def loading(command: list[bytes]) -> bytes:
        return b"-LOADING Redis is loading the dataset in memory\r\n"

    async with _fake_redis(loading) as port:
        lane = RedisLane(host="127.0.0.1", port=port, connect_timeout=1.0, timeout=1.0)
        try:
            with pytest.raises(BusyLoadingError):
                await lane.pipeline([(b"EVALSHA", b"0" * 40, 0)])
        finally:
            await lane.aclose()


async def test_slow_but_steady_replies_do_not_time_out_as_with_redis_py() -> None:
    # The timeout bounds each wait for the next reply, not the whole round trip.
    async def slow(command: list[bytes]) -> bytes:
        await asyncio.sleep(0.3)
        return b"+OK\r\n"

    async with _fake_redis(slow) as port:
        commands = [(b"SET", b"k", b"v")] * 3
        lane = RedisLane(host="127.0.0.1", port=port, connect_timeout=1.0, timeout=0.5)
        try:
            assert await lane.pipeline(commands) == [b"OK"] * 3
        finally:
            await lane.aclose()


async def test_a_connection_lost_after_its_setup_is_a_connection_error() -> None:
    served = 0

    async def once(command: list[bytes]) -> bytes:
        nonlocal served
        served += 1
        return b"+OK\r\n"

    async with _fake_redis(once) as port:
        lane = RedisLane(host="127.0.0.1", port=port, connect_timeout=1.0, timeout=1.0)
        try:
            assert await lane.pipeline([(b"PING",)]) == [b"OK"]
            (connection,) = lane._idle  # the test closes it under the lane
            connection.close()
            lane._idle.append(connection)
            connection.usable = True  # as if the close had not been seen yet
            with pytest.raises(RedisConnectionError):
                await lane.pipeline([(b"PING",)])
        finally:
            await lane.aclose()


def test_a_lane_used_from_a_second_loop_opens_connections_there(prefix: str) -> None:
    # A CLI command may run two event loops one after the other with one client.
    lane = RedisLane(host="127.0.0.1", port=6379, timeout=1.0)

    async def ping() -> list[object]:
        return await lane.pipeline([("PING",)])

    assert asyncio.run(ping()) == [b"PONG"]
    assert asyncio.run(ping()) == [b"PONG"]

    async def close() -> None:
        await lane.aclose()

    asyncio.run(close())
