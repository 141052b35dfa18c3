"""A lean path to Redis for the hot pipelines: plain asyncio connections fed to hiredis.

A feed page's Redis reads and a fan-out's pushes each take one round trip through
`idsets.pipeline`. Through redis-py's asyncio client, a round trip cost about twice the client CPU
of the same round trip on a bare protocol: the pool's lock and bookkeeping, a stream reader, and a
timeout context and parser call per reply (a PING: 90-190 us of CPU against 45-110 us on this
machine). A `RedisLane` keeps its own connections to the same server, with the same database,
credentials and timeouts, and hands hiredis the bytes as they arrive. Everything else (pub/sub,
streams, single commands, Cluster) stays on redis-py.

Errors are redis-py's, so callers handle them alike: a lost or refused connection raises
`ConnectionError`, a late answer `TimeoutError`, error replies come back in the replies as
redis-py's parser maps them (`NoScriptError` for NOSCRIPT, ...), and those that mean the server
cannot serve (`BusyLoadingError` while it loads its data, ...) are raised, as redis-py raises them.
A connection is reused only after a round trip that read every reply; any failure or cancellation
closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any, cast

import hiredis
from redis._parsers import BaseParser
from redis.asyncio import Redis
from redis.asyncio.connection import Connection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import InvalidResponse
from redis.exceptions import TimeoutError as RedisTimeoutError

# Idle connections kept per lane; a burst beyond it opens more and closes them after use.
IDLE_CONNECTIONS = 64


class LaneConnection(asyncio.Protocol):
    """One connection: a request of several commands at a time, its replies read as they come."""

    def __init__(self) -> None:
        # redis-py's own mapping of error replies to its exception classes (NOSCRIPT, LOADING, ...).
        self._reader = hiredis.Reader(protocolError=InvalidResponse, replyError=BaseParser.parse_error)
        self._transport: asyncio.Transport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._expected = 0
        self._replies: list[Any] = []
        self._progress = 0.0  # the loop's time when bytes last arrived
        self._reply_seconds = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self.usable = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's is not an asyncio.Transport subclass, so no isinstance).
        self._transport = cast(asyncio.Transport, transport)
        self._loop = asyncio.get_running_loop()
        self.usable = True

    def connection_lost(self, exc: Exception | None) -> None:
        self.usable = False
        self._fail(RedisConnectionError(f"Redis closed the connection: {exc or 'end of stream'}"))

    def data_received(self, data: bytes) -> None:
        assert self._loop is not None
        self._progress = self._loop.time()
        self._reader.feed(data)
        try:
            while True:
                reply = self._reader.gets()
                if reply is False:
                    break
                if len(self._replies) >= self._expected:
                    raise InvalidResponse("a reply nobody asked for")
                self._replies.append(reply)
        except InvalidResponse as e:
            self._fail(RedisConnectionError(f"Redis protocol error: {e}"))
            self.close()
            return
        if len(self._replies) == self._expected and self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _fail(self, error: Exception) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(error)

    async def request(self, packed: bytes, count: int, reply_seconds: float | None) -> list[Any]:
        """Sends `count` packed commands and returns their replies, error replies as exceptions
        (those that mean the connection cannot serve, such as LOADING, raised as redis-py does).
        `reply_seconds` bounds each wait for the next bytes, as redis-py's socket timeout does."""
        if self._transport is None or not self.usable:
            raise RedisConnectionError("the Redis connection is closed")
        loop = asyncio.get_running_loop()
        self._expected, self._replies = count, []
        waiter = self._waiter = loop.create_future()
        self._transport.write(packed)
        self._progress = loop.time()
        if reply_seconds is not None:
            self._reply_seconds = reply_seconds
            self._timer = loop.call_later(reply_seconds, self._check_progress)
        try:
            await waiter
        finally:
            # Methods and cleared references, not a closure: a page must leave no cyclic garbage.
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._waiter = None
        replies, self._replies, self._expected = self._replies, [], 0
        for reply in replies:
            if isinstance(reply, RedisConnectionError):
                raise reply
            if isinstance(reply, list) and reply and isinstance(reply[0], RedisConnectionError):
                raise reply[0]
        return replies

    def _check_progress(self) -> None:
        loop = asyncio.get_running_loop()
        silent = loop.time() - self._progress
        if silent >= self._reply_seconds:
            self._timer = None
            self._fail(RedisTimeoutError("Timeout reading from Redis"))
        else:
            self._timer = loop.call_later(self._reply_seconds - silent, self._check_progress)

    def close(self) -> None:
        self.usable = False
        if self._transport is not None:
            self._transport.close()


class RedisLane:
    """Connections of one client's server and database, for `idsets.pipeline`."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        connect_timeout: float | None = None,
        timeout: float | None = None,
    ) -> None:
        self._address = (host, port)
        self._handshake: list[tuple[Any, ...]] = []
        if password is not None:
            self._handshake.append(("AUTH", username, password) if username else ("AUTH", password))
        if db:
            self._handshake.append(("SELECT", db))
        self._connect_timeout = connect_timeout
        self._timeout = timeout
        self._idle: list[LaneConnection] = []
        self._loop: asyncio.AbstractEventLoop | None = None  # the idle connections' loop
        self._closed = False

    @classmethod
    def of_client(cls, client: Redis) -> RedisLane | None:
        """A lane to the client's server, or None when its connections are not plain TCP (TLS, a
        Unix socket) or speak RESP3: those stay with redis-py alone."""
        pool = client.connection_pool
        kwargs = pool.connection_kwargs
        if pool.connection_class is not Connection or kwargs.get("protocol") not in (None, 2, "2"):
            return None
        return cls(
            host=kwargs.get("host", "localhost"),
            port=int(kwargs.get("port", 6379)),
            db=int(kwargs.get("db", 0) or 0),
            username=kwargs.get("username"),
            password=kwargs.get("password"),
            # As redis-py: without a connect timeout, the socket timeout bounds connecting too.
            connect_timeout=kwargs.get("socket_connect_timeout") or kwargs.get("socket_timeout"),
            timeout=kwargs.get("socket_timeout"),
        )

    async def pipeline(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        """The commands' replies, in one write and one wait (see `idsets.pipeline`)."""
        packed = b"".join([hiredis.pack_command(c) for c in commands])
        connection = self._take() or await self._open()
        try:
            replies = await connection.request(packed, len(commands), self._timeout)
        except BaseException:
            # Replies may still be on their way: the connection must not serve anyone else.
            connection.close()
            raise
        if self._closed or len(self._idle) >= IDLE_CONNECTIONS:
            connection.close()
        else:
            self._idle.append(connection)
        return replies

    def _take(self) -> LaneConnection | None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # Connections of another (finished) loop cannot be read from this one.
            self._discard_idle()
            self._loop = loop
        while self._idle:
            connection = self._idle.pop()
            if connection.usable:
                return connection
        return None

    async def _open(self) -> LaneConnection:
        if self._closed:
            raise RedisConnectionError("the Redis lane is closed")
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout):
                _, connection = await loop.create_connection(LaneConnection, *self._address)
        except (OSError, TimeoutError) as e:
            raise RedisConnectionError(f"cannot connect to Redis at {self._address}: {e}") from e
        if self._handshake:
            try:
                packed = b"".join([hiredis.pack_command(c) for c in self._handshake])
                replies = await connection.request(packed, len(self._handshake), self._timeout)
            except BaseException:
                connection.close()
                raise
            for reply in replies:
                if isinstance(reply, Exception):
                    connection.close()
                    raise RedisConnectionError(f"Redis refused the connection's setup: {reply}")
        return connection

    def _discard_idle(self) -> None:
        for connection in self._idle:
            with contextlib.suppress(RuntimeError):  # its loop is closed: nothing left to close
                connection.close()
        self._idle.clear()

    async def aclose(self) -> None:
        """Closes the idle connections now, and those in use when their round trip ends."""
        self._closed = True
        self._discard_idle()
        # Let the transports finish closing within this loop.
        await asyncio.sleep(0)


class LaneRedis(Redis):
    """redis-py's client, with a lane for the hot pipelines that closes with the client."""

    lane: RedisLane | None = None

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        if self.lane is not None:
            await self.lane.aclose()
        await super().aclose(close_connection_pool)
