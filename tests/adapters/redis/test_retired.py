"""Keys of retired formats: removed by `roost migrate`, and nothing else with them."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import cast

import pytest
import redis.asyncio
from tests.adapters.redis.conftest import REDIS_URL, connect, delete_prefix, new_prefix
from typer.testing import CliRunner

from roost import cli
from roost.adapters.redis import retired
from roost.adapters.redis.keys import Keys
from roost.adapters.redis.retired import remove_retired_keys


async def seed(client: redis.asyncio.Redis, prefix: str) -> list[str]:
    """Retired keys of five owners under `prefix`, and the current keys beside them."""
    retired_keys = [f"{prefix}:{kind}:{{{owner}}}" for kind in retired.RETIRED_KINDS for owner in range(5)]
    keys = Keys(prefix)
    current = [keys.timeline(1), keys.timeline_meta(1), keys.timeline_ceiling(), keys.recent(1), keys.post(7)]
    for key in retired_keys + current:
        await client.set(key, b"x")
    return current


async def test_removes_retired_kinds_only(
    client: redis.asyncio.Redis, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retired, "BATCH", 3)  # several UNLINK batches
    current = await seed(client, prefix)
    other = new_prefix()
    try:
        await client.set(f"{other}:tl2:{{1}}", b"x")  # another deployment's keys are not ours
        assert await remove_retired_keys(client, prefix) == len(retired.RETIRED_KINDS) * 5
        left = [cast(bytes, k).decode() async for k in client.scan_iter(match=f"{prefix}:*")]
        assert sorted(left) == sorted(current)
        assert await client.exists(f"{other}:tl2:{{1}}") == 1
        assert await remove_retired_keys(client, prefix) == 0
    finally:
        await delete_prefix(client, other)


async def _seeded(prefix: str) -> list[str]:
    client = await connect()
    try:
        return await seed(client, prefix)
    finally:
        await client.aclose()


async def _left_and_cleared(prefix: str) -> list[str]:
    client = await connect()
    try:
        left = [cast(bytes, k).decode() async for k in client.scan_iter(match=f"{prefix}:*")]
        await delete_prefix(client, prefix)
        return left
    finally:
        await client.aclose()


def migrate_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_url: str, prefix: str) -> None:
    # The database is a throwaway SQLite file: what is tested is the Redis step.
    monkeypatch.delenv("ROOST_DATABASE_URL", raising=False)
    monkeypatch.setenv("ROOST_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ROOST_REDIS_URL", redis_url)
    monkeypatch.setenv("ROOST_REDIS_PREFIX", prefix)
    monkeypatch.setenv("ROOST_SECRET_KEY", "test-secret-key-" + "x" * 32)


def test_migrate_removes_them(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    prefix = new_prefix()
    current = asyncio.run(_seeded(prefix))
    migrate_env(monkeypatch, tmp_path, REDIS_URL, prefix)
    try:
        result = CliRunner().invoke(cli.app, ["migrate"])
    finally:
        left = asyncio.run(_left_and_cleared(prefix))
    assert result.exit_code == 0, result.output
    removed = len(retired.RETIRED_KINDS) * 5
    assert (
        result.output.splitlines()[-1] == f"Redis: removed {removed} keys of retired formats under {prefix}:"
    )
    assert sorted(left) == sorted(current)


def test_migrate_with_redis_down_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    migrate_env(monkeypatch, tmp_path, "redis://127.0.0.1:1/0", new_prefix())
    result = CliRunner().invoke(cli.app, ["migrate"])
    assert result.exit_code == 1
    assert "Redis unreachable" in result.output
    assert "check ROOST_REDIS_URL" in result.output
