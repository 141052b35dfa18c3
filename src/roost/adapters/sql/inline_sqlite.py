"""SQLite connections that run on the event loop's own thread: the embedded profile's statements.

aiosqlite gives every connection a thread and sends each cursor call to it: a future, a self-pipe
wake-up and a GIL hand-over per call, about 60 of them for one feed page, which cost more CPU than
SQLite takes to answer the page's queries. Worse, under load every hand-over of a write waits for
a turn of a busy event loop: a post's transaction took half a second. A read in WAL mode never
waits for a lock, and our statements answer in microseconds to a few milliseconds, so running them
inline is cheaper than any hand-over.

The one wait that must not happen on the loop is SQLite's busy handler: writers get a zero busy
timeout, and `Database` retries a busy BEGIN IMMEDIATE with an asynchronous sleep instead.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

import aiosqlite

# How long an inline reader may wait on SQLITE_BUSY (rare in WAL: recovery, a truncating checkpoint).
READ_BUSY_TIMEOUT_MS = 1000


class _InlineQueue:
    """Stands in for aiosqlite's queue to its worker thread: runs each call at once, here."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:  # handed to the awaiting caller, as the worker thread does
            if future is not None and not future.done():
                future.set_exception(exc)
            return
        if future is not None and not future.done():
            future.set_result(result)


class InlineConnection(aiosqlite.Connection):
    """An aiosqlite connection without its thread: every call runs on the caller's thread."""

    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._tx = _InlineQueue()  # type: ignore[assignment]

    def __await__(self) -> Any:
        # No worker thread to start: `_connect` hands the connector to the queue, which runs it.
        return self._connect().__await__()

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)

    def run(self, sql: str, params: Sequence[Any]) -> list[Any]:
        """One statement's rows, straight from sqlite3 (see `hot`: no cursor objects in between)."""
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return self._connection.execute(sql, params).fetchall()


def inline_creator(path: str) -> Callable[[], InlineConnection]:
    """The `async_creator` of an engine whose connections run inline (check_same_thread stays on:
    a connection is only ever used by the thread of the event loop that made it)."""

    def connector() -> sqlite3.Connection:
        return sqlite3.connect(path, timeout=READ_BUSY_TIMEOUT_MS / 1000)

    def create() -> InlineConnection:
        return InlineConnection(connector)

    return create
