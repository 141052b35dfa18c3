"""One benchmark run: server subprocess, driver processes, server-side counters, one result dict."""

from __future__ import annotations

import asyncio
import os
import random
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio

from roost.adapters.redis.keys import Keys
from roost.adapters.sql import migrate
from roost.adapters.sql.database import Database
from roost.bench.driver import Workload, drive
from roost.bench.manifest import Manifest, Reader, build_manifest
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
    """Memory of sampled timelines (list + meta key, as Redis accounts it) per entry they hold."""
    if settings.redis_url is None:
        return None
    client = redis.asyncio.Redis.from_url(settings.redis_url)
    keys = Keys(settings.redis_prefix)
    total_bytes = entries = 0
    try:
        for reader in manifest.readers[:sample]:
            size = await client.llen(keys.timeline(reader.user_id))
            if not size:
                continue
            for key in (keys.timeline(reader.user_id), keys.timeline_meta(reader.user_id)):
                total_bytes += await client.memory_usage(key, samples=0) or 0
            entries += size
    finally:
        await client.aclose()
    return total_bytes / entries if entries else None


def run_once(
    settings: Settings,
    work: Workload,
    *,
    log_dir: Path,
    manifest: Manifest | None = None,
    api_processes: int = 1,
    workers: int = 1,
) -> dict[str, Any]:
    """Drive `work` (its base_url is replaced) against a fresh `roost serve` on these settings."""
    load_before = os.getloadavg()
    if not settings.is_sqlite:
        asyncio.run(_migrate(settings))  # the bench database is the bench's own: keep it at head
    manifest = manifest or asyncio.run(build_manifest(settings))
    queries = asyncio.run(queries_per_feed_read(settings, manifest))
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"server-{settings.fanout_strategy}.log"
    with serve(settings, log_path=log_path, api_processes=api_processes, workers=workers) as server:
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
        "api_processes": api_processes,
        "worker_processes": 0 if settings.is_embedded else workers,
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
    return server.timeline_inserts()


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
    workers: int = 1,
    read_ratio: float | None = None,
) -> dict[str, Any]:
    """Feed reads with wrk (C, one thread): rotating readers' tokens over keep-alive connections.

    Every reader's first page is read once before (its first page of the hour records its
    activity, a write), then wrk runs `warmup` seconds unmeasured, so the run measures steady
    state, not cold readers or the process's cold caches. `rate` > 0 paces each connection (wrk's `delay`) to about that many
    requests per second in all: latency at a load, instead of at saturation. With `read_ratio`,
    one request in every read_ratio + 1 is a post by a rotating writer (wrk reports one latency
    distribution for both), and fan-out freshness comes from the fan-out processes' metrics.
    """
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    every = round(read_ratio) + 1 if read_ratio is not None else 0
    script = _wrk_script(manifest, connections=connections, rate=rate, every=every)
    log_dir.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    with serve(
        settings, log_path=log_dir / "server-wrk.log", api_processes=api_processes, workers=workers
    ) as server:

        def run_wrk(seconds: int) -> str:
            command = [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "-s", f.name]
            return subprocess.run(
                [*command, server.base_url + "/api/feed"],
                capture_output=True,
                text=True,
                timeout=seconds + 60,
                check=True,
            ).stdout

        _read_every_feed_once(server.base_url, manifest.readers[:1000])
        if warmup > 0:
            run_wrk(warmup)
        time.sleep(1.0)  # let the warm-up's fan-out finish before the counters are read
        cpu0, wcpu0, fresh0, inserts0 = (
            server.cpu(),
            server.workers_cpu(),
            server.freshness(),
            server.timeline_inserts(),
        )
        out = run_wrk(duration)
        server_cpu = server.cpu() - cpu0
        time.sleep(1.0)  # fan-out of the last posts
        workers_cpu = server.workers_cpu() - wcpu0
        fresh = server.freshness().minus(fresh0)
        inserts = server.timeline_inserts() - inserts0
    pct = {float(p): int(us) / 1000 for p, us in re.findall(r"^pct (\S+) (\d+)$", out, re.MULTILINE)}
    rps = float(re.search(r"Requests/sec:\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    posts_per_second = rps / every if every else 0.0
    return {
        "tool": "wrk",
        "read_ratio": read_ratio,
        "requests_per_second": rps,
        "posts_per_second": posts_per_second,
        "workers_cpu_seconds": workers_cpu,
        "timeline_inserts_per_second": inserts / duration,
        "fanout_freshness": {
            "pushed_posts": fresh.count,
            "p50_ms": _ms(fresh.quantile(0.5)),
            "p99_ms": _ms(fresh.quantile(0.99)),
            "share_within_1s": fresh.share_within(1.0),
        },
        "connections": connections,
        "duration_s": duration,
        "warmup_s": warmup,
        "target_rate": rate or None,
        "api_processes": api_processes,
        "worker_processes": 0 if settings.is_embedded else workers,
        "feed_reads_per_second": rps - posts_per_second,
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


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


# Prints wrk's latency percentiles and error count in a form `wrk_reads` parses.
_WRK_DONE = """
done = function(summary, latency, requests)
  for _, p in pairs({50, 90, 99, 99.9}) do
    io.write(string.format('pct %g %d\\n', p, latency:percentile(p)))
  end
  local e = summary.errors
  io.write(string.format('max %d\\nerrors %d\\n', latency.max,
    e.status + e.connect + e.read + e.write + e.timeout))
end
"""


def _wrk_script(manifest: Manifest, *, connections: int, rate: float, every: int) -> str:
    """Feed reads as 1,000 rotating readers; with `every` > 0, each every-th request is a post."""
    tokens = ",".join(f'"{r.token}"' for r in manifest.readers[:1000])
    writers = ",".join(f'"{w.token}"' for w in manifest.writers)
    pacing = f"delay = function() return {connections * 1000.0 / rate:.3f} end\n" if rate > 0 else ""
    return (
        pacing
        + f"local tokens = {{{tokens}}}\nlocal writers = {{{writers}}}\nlocal every = {every}\n"
        + """local i, n = 0, 0
request = function()
  n = n + 1
  if every > 0 and n % every == 0 then
    local body = string.format('{"content": "wrk post %d"}', n)
    local headers = {["Authorization"] = "Bearer " .. writers[n % #writers + 1],
                     ["Content-Type"] = "application/json"}
    return wrk.format("POST", "/api/posts", headers, body)
  end
  i = i % #tokens + 1
  return wrk.format("GET", "/api/feed?limit=20", {["Authorization"] = "Bearer " .. tokens[i]})
end
"""
        + _WRK_DONE
    )


def _read_every_feed_once(base_url: str, readers: Sequence[Reader]) -> None:
    """Each reader's first page, 8 at a time (API processes each warm up on the readers they get)."""
    with httpx.Client(base_url=base_url, timeout=30) as client, ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda r: client.get("/api/feed?limit=20", headers={"Authorization": f"Bearer {r.token}"}),
                readers,
            )
        )
