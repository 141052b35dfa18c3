"""Test helpers: a runtime per test on each profile, and a small API client for readable tests."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher

from roost.api.app import create_app
from roost.core.security import Passwords
from roost.core.settings import Settings
from roost.runtime import Runtime

# Cheap hashing: tests register thousands of users; production keeps the library defaults.
FAST_PASSWORDS = Passwords(PasswordHasher(time_cost=1, memory_cost=64, parallelism=1))
PROFILES = ["embedded"]


def require_services() -> bool:
    return os.environ.get("ROOST_REQUIRE_SERVICES") == "1"


def skip_or_fail(reason: str) -> None:
    if require_services():
        pytest.fail(f"{reason} (ROOST_REQUIRE_SERVICES=1 forbids skipping)")
    pytest.skip(reason)


def embedded_settings(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(data_dir=tmp_path / "data", secret_key="test-secret-key-" + "x" * 32, **overrides)


@asynccontextmanager
async def running(profile: str, tmp_path: Path, **overrides: Any) -> AsyncIterator[Runtime]:
    """A started runtime on `profile`, with background workers off: tests call `drain()`."""
    if profile != "embedded":
        raise AssertionError(f"unknown profile {profile}")
    runtime = Runtime.build(embedded_settings(tmp_path, **overrides), passwords=FAST_PASSWORDS)
    await runtime.start(background=False)
    try:
        yield runtime
    finally:
        await runtime.stop()


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
