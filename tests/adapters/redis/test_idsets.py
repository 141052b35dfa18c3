"""Script calls pipelined by `idsets`: what runs after a dropped connection and a NOSCRIPT."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
import redis.asyncio

from roost.adapters.redis import idsets


async def test_calls_sent_again_after_a_dropped_connection_are_those_retried_after_noscript(
    client: redis.asyncio.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A push sent again must not repeat its original (which may have run): after the resent calls
    # meet NOSCRIPT, the resent calls are what runs.
    script = idsets.register(client, "return ARGV[1]")
    sends: list[Sequence[Any]] = []
    real = idsets.pipeline

    async def dropping_once(
        c: Any, commands: Sequence[Any], *, resent: Callable[[], Sequence[Any]] | None = None
    ) -> list[Any]:
        if not sends:
            assert resent is not None
            sends.append(commands)  # sent, then the connection dropped
            commands = resent()
        sends.append(commands)
        return await real(c, commands)

    monkeypatch.setattr(idsets, "pipeline", dropping_once)
    await client.script_flush()
    replies = await idsets.run_scripts(
        client, [(script, [], ["original"])], resent=lambda: [(script, [], ["resent"])]
    )
    assert replies == [b"resent"]
    assert len(sends) == 3  # the original, the resent calls (NOSCRIPT), the resent calls again
