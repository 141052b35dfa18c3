"""Bulk loading of a generated graph into the real schema: SQLite bulk inserts or PostgreSQL COPY.

Indexes are built after the rows are in (much faster than maintaining them row by row). Counters
(followers, following, posts) and celebrity tiers are exact for the loaded data and the settings'
threshold. Active users get a materialized home timeline exactly like `rebuild_timeline` builds it,
so the benchmark measures warm reads; inactive users have none, as in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
import numpy as np
import redis.asyncio
from rich.progress import Progress
from sqlalchemy import Index, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateIndex

from roost.adapters.redis.timelines import RedisTimelineStore
from roost.adapters.sql import migrate
from roost.adapters.sql.database import Database
from roost.adapters.sql.tables import follows, posts, users
from roost.bench.graph import I64, Graph, username
from roost.core.ids import EPOCH_MS, SEQUENCE_BITS, WORKER_BITS
from roost.core.security import Passwords
from roost.core.settings import Settings
from roost.ports import TimelineStore

BENCH_PASSWORD = "bench-password"  # every seeded account's password (the driver can log in)
_CHUNK = 50_000
_WORDS = [
    "the",
    "a",
    "feed",
    "roost",
    "post",
    "today",
    "new",
    "with",
    "about",
    "from",
    "this",
    "that",
    "coffee",
    "code",
    "ship",
    "build",
    "run",
    "deploy",
]


def sqlite_path(settings: Settings) -> str:
    return settings.sqlalchemy_url.removeprefix("sqlite+aiosqlite:///")


def _stamps(ms: I64) -> list[str]:
    """SQLite's storage format of SQLAlchemy DateTime (naive UTC)."""
    text = np.datetime_as_string(ms.astype("datetime64[ms]"), unit="us")
    return [t.replace("T", " ") for t in text.tolist()]


def _datetimes(ms: I64) -> list[datetime]:
    return [datetime.fromtimestamp(m / 1000, tz=UTC) for m in ms.tolist()]


def _content(i: int) -> str:
    words = " ".join(_WORDS[(i * 7 + k * 3) % len(_WORDS)] for k in range(8 + i % 12))
    return f"bench post {i}: {words}"


def user_rows(graph: Graph, password_hash: str, *, sqlite_times: bool) -> Iterator[tuple[Any, ...]]:
    followers, following, post_counts = graph.follower_counts, graph.following_counts, graph.post_counts
    celeb = graph.is_celebrity()
    stamp = _stamps if sqlite_times else _datetimes
    last_active, created = stamp(graph.last_active_ms), stamp(graph.created_ms)
    for i, uid in enumerate(graph.user_ids.tolist()):
        name = username(i)
        yield (
            uid, name, name, None, password_hash, f"Bench {i}", "", None, False, False,
            int(followers[i]), int(following[i]), int(post_counts[i]), bool(celeb[i]), 0,
            last_active[i], created[i],
        )  # fmt: skip


USER_COLUMNS = (
    "id", "username", "username_key", "email", "password_hash", "display_name", "bio", "avatar_url",
    "is_private", "is_verified", "follower_count", "following_count", "post_count", "is_celebrity",
    "push_from_id", "last_active_at", "created_at",
)  # fmt: skip
FOLLOW_COLUMNS = ("follower_id", "followee_id", "id", "created_at")
POST_COLUMNS = ("id", "author_id", "content", "hashtags", "mentions", "media", "created_at")


def follow_rows(graph: Graph, *, sqlite_times: bool) -> Iterator[tuple[Any, ...]]:
    uid = graph.user_ids
    ms = graph.follow_ids >> (WORKER_BITS + SEQUENCE_BITS)
    stamp = _stamps if sqlite_times else _datetimes
    for start in range(0, len(graph.follow_ids), _CHUNK):
        sl = slice(start, start + _CHUNK)
        yield from zip(
            uid[graph.follower_idx[sl]].tolist(),
            uid[graph.followee_idx[sl]].tolist(),
            graph.follow_ids[sl].tolist(),
            stamp(ms[sl] + EPOCH_MS),
            strict=True,
        )


def post_rows(graph: Graph, *, sqlite_times: bool) -> Iterator[tuple[Any, ...]]:
    authors = graph.user_ids[graph.post_author_idx].tolist()
    stamp = _stamps if sqlite_times else _datetimes
    created = stamp((graph.post_ids >> (WORKER_BITS + SEQUENCE_BITS)) + EPOCH_MS)
    for i, pid in enumerate(graph.post_ids.tolist()):
        yield (pid, authors[i], _content(i), "[]", "[]", "[]", created[i])


def timelines(graph: Graph, cap: int) -> Iterator[tuple[int, list[int], int]]:
    """(owner id, post ids newest first, floor) for every active user, as `rebuild_timeline` makes them."""
    n = len(graph.user_ids)
    by_author = np.lexsort((-graph.post_ids, graph.post_author_idx))
    author_sorted = graph.post_author_idx[by_author]
    ids_sorted = graph.post_ids[by_author]
    post_start = np.searchsorted(author_sorted, np.arange(n + 1))
    follow_start = np.searchsorted(graph.follower_idx, np.arange(n + 1))
    for u in np.flatnonzero(graph.active).tolist():
        sources = [*graph.followee_idx[follow_start[u] : follow_start[u + 1]].tolist(), u]
        parts = [ids_sorted[post_start[a] : post_start[a + 1]][:cap] for a in sources]
        ids = np.sort(np.concatenate(parts))[::-1][:cap] if parts else np.empty(0, np.int64)
        floor = int(ids[-1]) if len(ids) >= cap else 0
        yield int(graph.user_ids[u]), ids.tolist(), floor


def _task_sizes(graph: Graph) -> dict[str, int]:
    return {
        "users": len(graph.user_ids),
        "follows": len(graph.follow_ids),
        "posts": len(graph.post_ids),
        "timelines": int(graph.active.sum()),
    }


@contextmanager
def _progress(enabled: bool) -> Iterator[Progress]:
    with Progress(disable=not enabled, transient=False) as progress:
        yield progress


def _batches(
    progress: Progress, label: str, total: int, rows: Iterator[tuple[Any, ...]]
) -> Iterator[list[Any]]:
    task = progress.add_task(label, total=total)
    batch: list[Any] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= _CHUNK:
            yield batch
            progress.advance(task, len(batch))
            batch = []
    if batch:
        yield batch
        progress.advance(task, len(batch))


async def load_sqlite(graph: Graph, settings: Settings, *, show_progress: bool = True) -> None:
    """Replace the SQLite database of `settings` with the graph (migrated schema, rows, timelines)."""
    path = sqlite_path(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(path + suffix)
    database = Database(settings.sqlalchemy_url)
    try:
        await migrate.upgrade(database)
    finally:
        await database.dispose()
    password_hash = Passwords().hash(BENCH_PASSWORD)
    dialect = sqlite.dialect()
    db = sqlite3.connect(path, isolation_level=None)
    try:
        for pragma in ("journal_mode=WAL", "synchronous=OFF", "cache_size=-262144", "temp_store=MEMORY"):
            db.execute(f"PRAGMA {pragma}")
        # Indexes are built once the rows are in: far cheaper than maintaining them row by row.
        for index in _indexes():
            db.execute(f"DROP INDEX IF EXISTS {index.name}")
        sizes = _task_sizes(graph)
        with _progress(show_progress) as progress:
            db.execute("BEGIN")
            _sqlite_insert(
                db,
                progress,
                users,
                USER_COLUMNS,
                sizes["users"],
                user_rows(graph, password_hash, sqlite_times=True),
            )
            _sqlite_insert(
                db, progress, follows, FOLLOW_COLUMNS, sizes["follows"], follow_rows(graph, sqlite_times=True)
            )
            _sqlite_insert(
                db, progress, posts, POST_COLUMNS, sizes["posts"], post_rows(graph, sqlite_times=True)
            )
            meta: list[tuple[int, int, int]] = []
            task = progress.add_task("timelines", total=sizes["timelines"])
            for owner, ids, floor in timelines(graph, settings.timeline_cap):
                db.executemany(
                    "INSERT INTO timeline_entries (owner_id, post_id) VALUES (?, ?)",
                    ((owner, p) for p in ids),
                )
                meta.append((owner, floor, len(ids)))
                progress.advance(task)
            db.executemany("INSERT INTO timeline_meta (owner_id, floor, size) VALUES (?, ?, ?)", meta)
            db.execute("COMMIT")
            task = progress.add_task("indexes", total=len(_indexes()))
            for index in _indexes():
                db.execute(str(CreateIndex(index).compile(dialect=dialect)))
                progress.advance(task)
        db.execute("ANALYZE")
    finally:
        db.close()


def _indexes() -> list[Index]:
    """Indexes of the bulk-loaded tables."""
    return [index for table in (users, follows, posts) for index in table.indexes]


def _sqlite_insert(
    db: sqlite3.Connection,
    progress: Progress,
    table: Table,
    columns: Sequence[str],
    total: int,
    rows: Iterator[tuple[Any, ...]],
) -> None:
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    for batch in _batches(progress, table.name, total, rows):
        db.executemany(sql, batch)


def asyncpg_dsn(settings: Settings) -> str:
    return settings.sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def load_postgres(
    graph: Graph, settings: Settings, *, store: TimelineStore | None, show_progress: bool = True
) -> None:
    """Replace the bench database's schema and rows by COPY; timelines go through `store` (Redis)."""
    password_hash = Passwords().hash(BENCH_PASSWORD)
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    conn = await asyncpg.connect(asyncpg_dsn(settings))
    try:
        # The bench database is the benchmark's own: start from an empty, migrated schema.
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        database = Database(settings.sqlalchemy_url)
        try:
            await migrate.upgrade(database)
        finally:
            await database.dispose()
        for index in _indexes():
            await conn.execute(f'DROP INDEX IF EXISTS "{index.name}"')
        sizes = _task_sizes(graph)
        with _progress(show_progress) as progress:
            for table, columns, rows in (
                (users, USER_COLUMNS, user_rows(graph, password_hash, sqlite_times=False)),
                (follows, FOLLOW_COLUMNS, follow_rows(graph, sqlite_times=False)),
                (posts, POST_COLUMNS, post_rows(graph, sqlite_times=False)),
            ):
                for batch in _batches(progress, table.name, sizes[table.name], rows):
                    await conn.copy_records_to_table(table.name, records=batch, columns=list(columns))
            task = progress.add_task("indexes", total=len(_indexes()))
            for index in _indexes():
                await conn.execute(str(CreateIndex(index).compile(dialect=dialect)))
                progress.advance(task)
            for table in (users, follows, posts):
                # VACUUM too: fresh COPY pages are not yet marked all-visible, so until autovacuum
                # came by every index-only scan (a fan-out's follower paging) would visit the heap.
                await conn.execute(f"VACUUM (ANALYZE) {table.name}")
            if store is not None:
                await _load_store(graph, settings, store, progress)
    finally:
        await conn.close()


async def ensure_database(settings: Settings) -> None:
    """Create the bench database on the PostgreSQL server if it does not exist yet."""
    dsn = asyncpg_dsn(settings)
    name = dsn.rsplit("/", 1)[1].split("?", 1)[0]
    admin = await asyncpg.connect(dsn.rsplit("/", 1)[0] + "/postgres")
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


async def load_production(graph: Graph, settings: Settings) -> None:
    """PostgreSQL rows by COPY, and Redis timelines under the bench prefix (its old keys removed first)."""
    await ensure_database(settings)
    if settings.redis_url is None:
        await load_postgres(graph, settings, store=None)
        return
    client = redis.asyncio.Redis.from_url(settings.redis_url)
    try:
        batch: list[bytes] = []
        async for key in client.scan_iter(match=f"{settings.redis_prefix}:*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                await client.unlink(*batch)
                batch = []
        if batch:
            await client.unlink(*batch)
        store = RedisTimelineStore(client, prefix=settings.redis_prefix, cap=settings.timeline_cap)
        await load_postgres(graph, settings, store=store)
    finally:
        await client.aclose()


async def _load_store(graph: Graph, settings: Settings, store: TimelineStore, progress: Progress) -> None:
    task = progress.add_task("timelines", total=int(graph.active.sum()))
    pending: list[Any] = []
    for owner, ids, floor in timelines(graph, settings.timeline_cap):
        pending.append(_rebuild(store, owner, ids, floor))
        if len(pending) >= 64:
            await asyncio.gather(*pending)
            progress.advance(task, len(pending))
            pending = []
    await asyncio.gather(*pending)
    progress.advance(task, len(pending))


async def _rebuild(store: TimelineStore, owner: int, ids: list[int], floor: int) -> None:
    await store.begin_rebuild(owner)
    await store.finish_rebuild(owner, ids, floor)
