"""Fixtures: every contract test runs once per profile (embedded, and PostgreSQL + Redis)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio.connection import AbstractConnection

from roost.runtime import Runtime
from tests.support import PROFILES, Api, api_client, drop_session_database, running


@pytest.fixture(scope="session", autouse=True)
def _drop_session_database() -> Iterator[None]:
    """The production profile's PostgreSQL database lives for the session (per xdist worker)."""
    yield
    drop_session_database()


@pytest.fixture(params=PROFILES)
def profile(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def runtime(profile: str, tmp_path: Path) -> AsyncIterator[Runtime]:
    async with running(profile, tmp_path) as rt:
        yield rt


@pytest.fixture
async def api(runtime: Runtime) -> AsyncIterator[Api]:
    async with api_client(runtime) as client:
        yield client


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """Counts writes to Redis sockets: a pipeline or a single command is one write and one round trip."""
    count = 0
    original = AbstractConnection.send_packed_command

    def counting(self: AbstractConnection, *args: Any, **kwargs: Any) -> Awaitable[None]:
        nonlocal count
        count += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)
    return lambda: count
