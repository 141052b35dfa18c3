"""The durability test of the production profile: a `roost worker` killed in the middle of a fan-out
loses nothing and duplicates nothing once another worker takes over."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio
from sqlalchemy import func, select

from roost.actions.posts import create_post
from roost.adapters.redis import idsets
from roost.adapters.redis.keys import Keys
from roost.adapters.redis.stream import GROUP, StreamLayout
from roost.adapters.redis.timelines import RedisTimelineStore
from roost.adapters.sql import migrate
from roost.adapters.sql.tables import follows, outbox, users
from roost.core.settings import Settings
from roost.runtime import Runtime
from tests.support import FAST_PASSWORDS, REDIS_URL, delete_redis_prefix, redis_client, scratch_pg_database

FOLLOWERS = 20_000
# Every wait of this test gives up after this long, so a broken worker fails the test, not hangs it.
WAIT_SECONDS = 60.0
ROOST = str(Path(sys.executable).with_name("roost"))

pytestmark = [pytest.mark.services, pytest.mark.slow]


@pytest.fixture
async def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[dict[str, str]]:
    """ROOST_* variables (also set here) of a production deployment on a fresh database and prefix."""
    client = await redis_client()
    prefix = f"roost-test-{uuid.uuid4().hex}"
    async with scratch_pg_database() as url:
        values = {
            "ROOST_DATABASE_URL": url,
            "ROOST_REDIS_URL": REDIS_URL,
            "ROOST_REDIS_PREFIX": prefix,
            "ROOST_SECRET_KEY": "test-secret-key-" + "x" * 32,
            "ROOST_DATA_DIR": str(tmp_path / "data"),
            # A dead worker's entries are claimed after half a second.
            "ROOST_CLAIM_IDLE_MS": "500",
            # Small batches make the fan-out long enough to be interrupted in the middle.
            "ROOST_FANOUT_BATCH_SIZE": "20",  # many small batches: the kill lands mid-way
            "ROOST_FANOUT_STRATEGY": "push",
        }
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        yield values
        await delete_redis_prefix(client, prefix)
    await client.aclose()


@contextmanager
def workers(env: dict[str, str], log_dir: Path) -> Iterator[Callable[[str], subprocess.Popen[bytes]]]:
    """Starts `roost worker` processes; any still running at the end are killed."""
    started: list[subprocess.Popen[bytes]] = []

    def start(name: str) -> subprocess.Popen[bytes]:
        log = (log_dir / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            [ROOST, "worker", "--name", name],
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        started.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in started:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)


def worker_logs(log_dir: Path) -> str:
    return "\n".join(p.read_text()[-3000:] for p in sorted(log_dir.glob("*.log")))


async def wait_until(what: str, check: Callable[[], Awaitable[bool]], log_dir: Path) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {WAIT_SECONDS:.0f} s waiting until {what}\n{worker_logs(log_dir)}")
        await asyncio.sleep(0.05)


async def seed(rt: Runtime, client: redis.asyncio.Redis) -> tuple[int, list[int]]:
    """An author with FOLLOWERS active followers, each with a materialized, empty timeline."""
    now = datetime.now(UTC)
    author_id = rt.ids.next_id()
    follower_ids = [rt.ids.next_id() for _ in range(FOLLOWERS)]
    people = [author_id, *follower_ids]
    async with rt.db.transaction() as conn:
        for start in range(0, len(people), 5000):
            await conn.execute(
                users.insert(),
                [
                    {
                        "id": uid,
                        "username": f"u{uid}",
                        "username_key": f"u{uid}",
                        "password_hash": "-",
                        "last_active_at": now,
                        "created_at": now,
                    }
                    for uid in people[start : start + 5000]
                ],
            )
        for start in range(0, FOLLOWERS, 5000):
            await conn.execute(
                follows.insert(),
                [
                    {"follower_id": f, "followee_id": author_id, "id": rt.ids.next_id(), "created_at": now}
                    for f in follower_ids[start : start + 5000]
                ],
            )
    await materialize(client, Keys(rt.settings.redis_prefix), follower_ids)
    return author_id, follower_ids


async def materialize(client: redis.asyncio.Redis, keys: Keys, owner_ids: Sequence[int]) -> None:
    """Empty trusted timelines in one pipeline: the meta key alone, holding floor 0 (see idsets)."""
    async with client.pipeline(transaction=False) as pipe:
        for owner_id in owner_ids:
            pipe.set(keys.timeline_meta(owner_id), idsets.pack(0))
        await pipe.execute()


async def per_timeline(
    client: redis.asyncio.Redis, keys: Sequence[str], command: str, *args: Any
) -> list[Any]:
    async with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.execute_command(command, key, *args)
        return list(await pipe.execute())


async def test_worker_killed_mid_fanout_loses_and_duplicates_nothing(
    env: dict[str, str], tmp_path: Path
) -> None:
    settings = Settings()  # from the environment the workers get too
    rt = Runtime.build(settings, passwords=FAST_PASSWORDS)
    client = await redis_client()
    try:
        await migrate.upgrade(rt.db)
        await rt.start(background=False)
        assert isinstance(rt.workers.timelines, RedisTimelineStore)
        author_id, follower_ids = await seed(rt, client)
        keys = Keys(settings.redis_prefix)
        timeline_keys = [keys.timeline(f) for f in follower_ids]
        post_id = await create_post(
            rt.db, rt.ids, author_id=author_id, content="durable", now=datetime.now(UTC)
        )
        member = idsets.pack(post_id)

        async def holders() -> int:
            positions = await per_timeline(client, timeline_keys, "LPOS", member)
            return sum(position is not None for position in positions)

        with workers(env, tmp_path) as start:
            first = start("first")

            first_key = keys.timeline(min(follower_ids))

            async def fanout_started() -> bool:
                # One cheap look-up (followers are pushed in id order): counting all of them here
                # would take longer than the now-fast fan-out itself.
                return (await per_timeline(client, [first_key], "LPOS", member))[0] is not None

            await wait_until("the first worker has started the fan-out", fanout_started, tmp_path)
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
            at_kill = await holders()
            assert at_kill < FOLLOWERS, "the fan-out finished before the kill: nothing was tested"

            second = start("second")

            async def everyone_has_it() -> bool:
                return await holders() == FOLLOWERS

            await wait_until("every follower has the post", everyone_has_it, tmp_path)

            layout = StreamLayout(settings.redis_prefix, settings.stream_partitions)
            stream = layout.stream_of(author_id)

            async def acknowledged() -> bool:
                summary: Any = await client.xpending(stream, GROUP)
                return int(summary["pending"]) == 0

            await wait_until("the second worker acknowledged the event", acknowledged, tmp_path)

            # Exactly once: each follower's timeline holds this post and nothing else.
            sizes = await per_timeline(client, timeline_keys, "LLEN")
            assert sum(sizes) == FOLLOWERS
            assert set(sizes) == {1}
            assert await client.xlen(layout.dead) == 0
            async with rt.db.read() as conn:
                unsent = await conn.scalar(
                    select(func.count()).select_from(outbox).where(outbox.c.sent_at.is_(None))
                )
            assert unsent == 0

            # SIGTERM stops a worker cleanly.
            second.send_signal(signal.SIGTERM)
            assert second.wait(timeout=WAIT_SECONDS) == 0
    finally:
        await rt.stop()
        await client.aclose()
