"""What one round trip costs on this box: wall time and client CPU per Redis PING and per
PostgreSQL `SELECT 1` (TCP and the Unix socket), 4,000 in a row, and two syscalls for scale.

Run: /work/main/.venv/bin/python roundtrip_cost.py
"""

from __future__ import annotations

import asyncio
import os
import resource
import socket
import time
from collections.abc import Awaitable, Callable

import asyncpg
import redis.asyncio as redis

COUNT = 4000


async def measure(label: str, call: Callable[[], Awaitable[object]]) -> None:
    await call()
    started, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    for _ in range(COUNT):
        await call()
    after = resource.getrusage(resource.RUSAGE_SELF)
    wall = (time.perf_counter() - started) / COUNT * 1e6
    system = (after.ru_stime - before.ru_stime) / COUNT * 1e6
    cpu = (after.ru_utime - before.ru_utime) / COUNT * 1e6 + system
    print(f"{label}: {wall:.0f} us wall, {cpu:.0f} us CPU (system {system:.0f})")


def syscalls() -> None:
    started = time.perf_counter()
    for _ in range(200_000):
        os.getppid()
    print(f"getppid: {(time.perf_counter() - started) / 200_000 * 1e9:.0f} ns")
    a, b = socket.socketpair()
    started = time.perf_counter()
    for _ in range(20_000):
        a.send(b"x")
        b.recv(1)
    print(f"socketpair send + recv: {(time.perf_counter() - started) / 20_000 * 1e6:.1f} us")


async def main() -> None:
    client = redis.Redis.from_url("redis://127.0.0.1:6379/7")
    tcp = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    unix = await asyncpg.connect("postgresql://postgres@/postgres?host=/var/run/postgresql")
    await measure("redis PING", client.ping)
    await measure("postgresql SELECT 1, TCP", lambda: tcp.fetch("SELECT 1"))
    await measure("postgresql SELECT 1, Unix socket", lambda: unix.fetch("SELECT 1"))
    await client.aclose()
    await tcp.close()
    await unix.close()
    syscalls()


if __name__ == "__main__":
    asyncio.run(main())
