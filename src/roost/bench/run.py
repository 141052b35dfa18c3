"""One benchmark run: server subprocess, driver processes, server-side counters, one result dict."""

from __future__ import annotations

import asyncio
import math
import os
import random
import re
import shutil
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis.asyncio

from roost.adapters.redis.keys import Keys
from roost.adapters.sql import migrate
from roost.adapters.sql.database import Database
from roost.bench.driver import Workload, drive
from roost.bench.manifest import Manifest, build_manifest
from roost.bench.report import summarize
from roost.bench.server import ServerUnderTest, serve
from roost.core.settings import Settings
from roost.queries.feed import home_feed
from roost.runtime import Runtime


async def queries_per_feed_read(settings: Settings, manifest: Manifest, *, reads: int = 50) -> float:
    """Database statements per warm home-feed page, counted in process on the same data."""
    runtime = Runtime.build(settings)
    await runtime.start(background=False)
    try:
        rng = random.Random(7)
        readers = [rng.choice(manifest.readers).user_id for _ in range(reads)]
        now = datetime.now(UTC)
        for viewer in readers[:5]:  # warm caches and any first-read rebuild
            await home_feed(runtime.feed, viewer_id=viewer, cursor=None, limit=20, now=now)
        runtime.db.statements.reset()
        for viewer in readers:
            await home_feed(runtime.feed, viewer_id=viewer, cursor=None, limit=20, now=now)
        return runtime.db.statements.count / reads
    finally:
        await runtime.stop()


async def redis_bytes_per_entry(settings: Settings, manifest: Manifest, *, sample: int = 200) -> float | None:
    """Memory of sampled timelines (sorted set + meta key, as Redis accounts it) per entry they hold."""
    if settings.redis_url is None:
        return None
    client = redis.asyncio.Redis.from_url(settings.redis_url)
    keys = Keys(settings.redis_prefix)
    total_bytes = entries = 0
    try:
        for reader in manifest.readers[:sample]:
            size = await client.zcard(keys.timeline(reader.user_id))
            if not size:
                continue
            for key in (keys.timeline(reader.user_id), keys.timeline_meta(reader.user_id)):
                total_bytes += await client.memory_usage(key, samples=0) or 0
            entries += size
    finally:
        await client.aclose()
    return total_bytes / entries if entries else None


def run_once(
    settings: Settings, work: Workload, *, log_dir: Path, manifest: Manifest | None = None
) -> dict[str, Any]:
    """Drive `work` (its base_url is replaced) against a fresh `roost serve` on these settings."""
    load_before = os.getloadavg()
    if not settings.is_sqlite:
        asyncio.run(_migrate(settings))  # the bench database is the bench's own: keep it at head
    manifest = manifest or asyncio.run(build_manifest(settings))
    queries = asyncio.run(queries_per_feed_read(settings, manifest))
    log_dir.mkdir(parents=True, exist_ok=True)
    with serve(settings, log_path=log_dir / f"server-{settings.fanout_strategy}.log") as server:
        work = Workload(**{**_fields(work), "base_url": server.base_url})
        cpu0, wcpu0, inserts0, t0 = (
            server.cpu(),
            server.workers_cpu(),
            _inserts(settings, server),
            time.monotonic(),
        )
        samples = drive(work, manifest)
        # Let fan-out catch up before reading the counters, bounded.
        time.sleep(1.0)
        cpu1, wcpu1, inserts1, t1 = (
            server.cpu(),
            server.workers_cpu(),
            _inserts(settings, server),
            time.monotonic(),
        )
    extra: dict[str, Any] = {
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "strategy": settings.fanout_strategy,
        "profile": "embedded" if settings.is_embedded else "production",
        "workload": {k: v for k, v in _fields(work).items() if k != "base_url"},
        "timeline_inserts": inserts1 - inserts0,
        "timeline_inserts_per_second": (inserts1 - inserts0) / (t1 - t0),
        "db_queries_per_feed_read": queries,
        "redis_bytes_per_entry": asyncio.run(redis_bytes_per_entry(settings, manifest)),
    }
    cpu = (
        {"server": cpu1 - cpu0} if settings.is_embedded else {"server": cpu1 - cpu0, "workers": wcpu1 - wcpu0}
    )
    result = summarize(samples, server=cpu, extra=extra)
    result["raw"] = {
        "feed_read_seconds": samples.reads,
        "freshness_seconds": [s for s, _ in samples.freshness if s >= 0],
    }
    return result


async def _migrate(settings: Settings) -> None:
    db = Database(settings.sqlalchemy_url)
    try:
        await migrate.upgrade(db)
    finally:
        await db.dispose()


def _inserts(settings: Settings, server: ServerUnderTest) -> float:
    """Timeline inserts so far: the server's counter (embedded), or the workers' (production)."""
    if settings.is_embedded:
        return server.timeline_inserts()
    # `roost worker` processes serve no /metrics: production takes the fan-out rate from `micro`.
    return math.nan


def _fields(work: Workload) -> dict[str, Any]:
    return {name: getattr(work, name) for name in work.__dataclass_fields__}


def wrk_reads(
    settings: Settings,
    manifest: Manifest,
    *,
    duration: int,
    connections: int,
    log_dir: Path,
    warmup: int = 5,
    rate: float = 0.0,
    api_processes: int = 1,
) -> dict[str, Any]:
    """Feed reads with wrk (C, one thread): rotating readers' tokens over keep-alive connections.

    A `warmup` pass (not measured) first reads every reader's page once or more, so the run
    measures steady state, not each reader's first page of the hour (an activity write) or the
    process's cold caches. `rate` > 0 paces each connection (wrk's `delay`) to about that many
    requests per second in all: latency at a load, instead of at saturation.
    """
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    tokens = ",".join(f'"{r.token}"' for r in manifest.readers[:1000])
    pacing = f"delay = function()\n  return {connections * 1000.0 / rate:.3f}\nend\n" if rate > 0 else ""
    script = (
        pacing + f"local tokens = {{{tokens}}}\nlocal i = 0\n"
        "request = function()\n  i = i % #tokens + 1\n"
        '  return wrk.format("GET", "/api/feed?limit=20", {["Authorization"] = "Bearer " .. tokens[i]})\nend\n'
        "done = function(summary, latency, requests)\n"
        "  for _, p in pairs({50, 90, 99, 99.9}) do io.write(string.format('pct %g %d\\n', p, latency:percentile(p))) end\n"
        "  io.write(string.format('max %d\\nerrors %d\\n', latency.max, summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))\n"
        "end\n"
    )
    log_dir.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    with serve(settings, log_path=log_dir / "server-wrk.log", api_processes=api_processes) as server:

        def run_wrk(seconds: int) -> str:
            command = [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "-s", f.name]
            return subprocess.run(
                [*command, server.base_url + "/api/feed"],
                capture_output=True,
                text=True,
                timeout=seconds + 60,
                check=True,
            ).stdout

        if warmup > 0:
            run_wrk(warmup)
        cpu0 = server.cpu()
        out = run_wrk(duration)
        server_cpu = server.cpu() - cpu0
    pct = {float(p): int(us) / 1000 for p, us in re.findall(r"^pct (\S+) (\d+)$", out, re.MULTILINE)}
    rps = float(re.search(r"Requests/sec:\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    return {
        "tool": "wrk",
        "connections": connections,
        "duration_s": duration,
        "warmup_s": warmup,
        "target_rate": rate or None,
        "api_processes": api_processes,
        "feed_reads_per_second": rps,
        "p50_ms": pct.get(50.0),
        "p90_ms": pct.get(90.0),
        "p99_ms": pct.get(99.0),
        "max_ms": int(re.search(r"^max (\d+)$", out, re.MULTILINE).group(1)) / 1000,  # type: ignore[union-attr]
        "errors": int(re.search(r"^errors (\d+)$", out, re.MULTILINE).group(1)),  # type: ignore[union-attr]
        "server_cpu_seconds": server_cpu,
        "server_cpu_share_of_one_core": server_cpu / duration,
        "server_cpu_ms_per_read": 1000 * server_cpu / (rps * duration) if rps else None,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
    }
