"""Test helpers: a runtime per test on each profile, and a small API client for readable tests."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import asyncpg
import httpx
import pytest
import redis.asyncio
from argon2 import PasswordHasher
from redis.exceptions import RedisError
from sqlalchemy import text

from roost.adapters.sql import migrate
from roost.adapters.sql.database import Database
from roost.adapters.sql.tables import metadata
from roost.api.app import create_app
from roost.core.security import Passwords
from roost.core.settings import Settings
from roost.runtime import Runtime

# Cheap hashing: tests register thousands of users; production keeps the library defaults.
FAST_PASSWORDS = Passwords(PasswordHasher(time_cost=1, memory_cost=64, parallelism=1))
PROFILES = ["embedded", "production"]
# Services of the production profile; each test session gets its own database and each test its own prefix.
PG_ADMIN_URL = os.environ.get("ROOST_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("ROOST_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def require_services() -> bool:
    return os.environ.get("ROOST_REQUIRE_SERVICES") == "1"


def skip_or_fail(reason: str) -> NoReturn:
    if require_services():
        pytest.fail(f"{reason} (ROOST_REQUIRE_SERVICES=1 forbids skipping)")
    pytest.skip(reason)


def embedded_settings(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(data_dir=tmp_path / "data", secret_key="test-secret-key-" + "x" * 32, **overrides)


def pg_url(database: str) -> str:
    """The URL of `database` on the test PostgreSQL server."""
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + database


async def _pg_admin(statement: str) -> None:
    try:
        conn = await asyncpg.connect(PG_ADMIN_URL, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError) as e:
        skip_or_fail(f"PostgreSQL at {PG_ADMIN_URL} unreachable: {e}")
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def create_pg_database(tag: str) -> str:
    """A new empty PostgreSQL database with a random name; returns its name (drop it with drop_pg_database)."""
    name = f"roost_test_{tag}_{uuid.uuid4().hex[:10]}"
    await _pg_admin(f'CREATE DATABASE "{name}"')
    return name


async def drop_pg_database(name: str) -> None:
    await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@asynccontextmanager
async def scratch_pg_database() -> AsyncIterator[str]:
    """The URL of a new empty PostgreSQL database, dropped afterwards."""
    name = await create_pg_database("scratch")
    try:
        yield pg_url(name)
    finally:
        await drop_pg_database(name)


class _SessionDatabase:
    """The migrated PostgreSQL database of this test process (one per xdist worker), made on first use."""

    name: str | None = None

    @classmethod
    async def url(cls) -> str:
        if cls.name is None:
            worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
            name = await create_pg_database(worker)
            # Throwaway data: no need to wait for the disk at every commit.
            await _pg_admin(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
            db = Database(Settings(database_url=pg_url(name)).sqlalchemy_url)
            try:
                await migrate.upgrade(db)
            finally:
                await db.dispose()
            cls.name = name
        return pg_url(cls.name)

    @classmethod
    def drop(cls) -> None:
        """Session teardown (conftest): no event loop is running there."""
        if cls.name is not None:
            asyncio.run(drop_pg_database(cls.name))
            cls.name = None


drop_session_database = _SessionDatabase.drop
session_pg_url = _SessionDatabase.url


async def redis_client() -> redis.asyncio.Redis:
    """A client of the test Redis, or a skip (a failure with ROOST_REQUIRE_SERVICES=1)."""
    client = redis.asyncio.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        await client.ping()
    except (RedisError, OSError) as e:
        await client.aclose()
        skip_or_fail(f"Redis at {REDIS_URL} unreachable: {e}")
    return client


async def delete_redis_prefix(client: redis.asyncio.Redis, prefix: str) -> None:
    keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=1000)]
    if keys:
        await client.delete(*keys)


async def production_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings on the session's PostgreSQL database (emptied) and a fresh Redis key prefix."""
    url = await _SessionDatabase.url()
    db = Database(Settings(database_url=url).sqlalchemy_url)
    try:
        async with db.transaction() as conn:
            names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
            await conn.execute(text(f"TRUNCATE {names}"))
    finally:
        await db.dispose()
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "database_url": url,
        "redis_url": REDIS_URL,
        "redis_prefix": f"roost-test-{uuid.uuid4().hex}",
        "secret_key": "test-secret-key-" + "x" * 32,
        **overrides,
    }
    return Settings(**values)


@asynccontextmanager
async def running(profile: str, tmp_path: Path, **overrides: Any) -> AsyncIterator[Runtime]:
    """A started runtime on `profile`, with background workers off: tests call `drain()`."""
    if profile == "embedded":
        settings = embedded_settings(tmp_path, **overrides)
        cleanup = None
    elif profile == "production":
        cleanup = await redis_client()
        settings = await production_settings(tmp_path, **overrides)
    else:
        raise AssertionError(f"unknown profile {profile}")
    runtime = Runtime.build(settings, passwords=FAST_PASSWORDS)
    try:
        await runtime.start(background=False)
        yield runtime
    finally:
        await runtime.stop()
        if cleanup is not None:
            await delete_redis_prefix(cleanup, settings.redis_prefix)
            await cleanup.aclose()


@dataclass
class User:
    id: str
    username: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Api:
    """The HTTP API through the ASGI app, with shortcuts for the common steps."""

    def __init__(self, client: httpx.AsyncClient, runtime: Runtime) -> None:
        self.client = client
        self.runtime = runtime
        self._serial = 0

    async def register(self, username: str | None = None, **extra: Any) -> User:
        self._serial += 1
        name = username or f"user{self._serial}"
        r = await self.client.post(
            "/api/auth/register", json={"username": name, "password": "correct horse", **extra}
        )
        assert r.status_code == 201, r.text
        body = r.json()
        return User(id=body["user"]["id"], username=name, token=body["accessToken"])

    async def post(self, user: User, content: str = "hello", **extra: Any) -> str:
        r = await self.client.post("/api/posts", json={"content": content, **extra}, headers=user.headers)
        assert r.status_code == 201, r.text
        return str(r.json()["postId"])

    async def follow(self, user: User, other: User) -> dict[str, Any]:
        r = await self.client.post(f"/api/users/{other.id}/follow", headers=user.headers)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    async def feed_ids(self, user: User, *, limit: int = 100) -> list[str]:
        """Every post id of the user's home feed, following cursors to the end."""
        ids: list[str] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": limit}
            if cursor:
                params["cursor"] = cursor
            r = await self.client.get("/api/feed", params=params, headers=user.headers)
            assert r.status_code == 200, r.text
            body = r.json()
            ids.extend(p["postId"] for p in body["posts"])
            cursor = body["nextCursor"]
            if not body["hasMore"]:
                return ids

    async def settle(self) -> None:
        await self.runtime.drain()


@asynccontextmanager
async def api_client(runtime: Runtime) -> AsyncIterator[Api]:
    app = create_app(runtime)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://roost.test") as client:
        yield Api(client, runtime)
