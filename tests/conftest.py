"""Fixtures: every contract test runs once per profile (embedded, and PostgreSQL + Redis)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from roost.runtime import Runtime
from tests.support import PROFILES, Api, api_client, running


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
