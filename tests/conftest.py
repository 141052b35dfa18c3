"""Fixtures: every contract test runs once per profile (embedded, and PostgreSQL + Redis)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

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
