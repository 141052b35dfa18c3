"""The HTTP workload driver: client processes (httpx, keep-alive) mixing feed reads and posts.

Each process runs `concurrency` closed-loop clients until the deadline or its share of the op
budget, optionally paced to a target rate. A sample of posts is probed for freshness: one active
follower's feed is polled until the post shows up (from the moment the POST was sent, so the
number is commit-to-visible as the client can know it: from the POST's answer, which follows the commit).
Probes use a connection pool of their own, so they never queue behind the workload's requests. Processes report raw latencies and their own CPU.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from roost.bench.manifest import Manifest

# Probes poll with backoff (10 ms, growing by half up to 200 ms) and at most MAX_PROBES run at once
# per process, so probing cannot turn into a read load of its own on a slow server.
PROBE_FIRST_WAIT, PROBE_MAX_WAIT = 0.01, 0.2
PROBE_TIMEOUT = 10.0
MAX_PROBES = 4


@dataclass(frozen=True, slots=True)
class Workload:
    base_url: str
    duration: float = 10.0
    concurrency: int = 16
    processes: int = 1
    # Feed reads per post create (100 means 100:1).
    read_ratio: float = 100.0
    # Target operations per second over all processes; 0 runs closed-loop as fast as answers come.
    rate: float = 0.0
    # Hard cap on operations over all processes.
    max_ops: int = 1_000_000
    # Probe freshness of every n-th post of a process (0: never).
    probe_every: int = 1
    seed: int = 1

    def __post_init__(self) -> None:
        host = httpx.URL(self.base_url).host
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the driver only targets a server on the loopback interface")


@dataclass
class Samples:
    reads: list[float] = field(default_factory=list)
    writes: list[float] = field(default_factory=list)
    # (seconds, follower count of the author); -1.0 seconds: never seen before the timeout.
    freshness: list[tuple[float, int]] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    probe_reads: int = 0
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0

    def merge(self, other: Samples) -> None:
        self.reads += other.reads
        self.writes += other.writes
        self.freshness += other.freshness
        self.probe_reads += other.probe_reads
        for k, v in other.errors.items():
            self.errors[k] = self.errors.get(k, 0) + v
        self.cpu_seconds += other.cpu_seconds
        self.wall_seconds = max(self.wall_seconds, other.wall_seconds)


class _Client:
    def __init__(
        self,
        work: Workload,
        manifest: Manifest,
        index: int,
        http: httpx.AsyncClient,
        probe_http: httpx.AsyncClient,
        probes: list[int],
    ) -> None:
        self.probe_http = probe_http
        self.probes_running = probes  # one counter shared by the process's clients
        self.work = work
        self.manifest = manifest
        self.http = http
        self.rng = random.Random(work.seed * 1000 + index)
        self.samples = Samples()
        self.ops_left = max(1, work.max_ops // work.processes)
        self.deadline = time.monotonic() + work.duration
        self.rate = work.rate / work.processes if work.rate > 0 else 0.0
        self.next_at = time.monotonic()
        self.posts = 0
        self.probes: set[asyncio.Task[None]] = set()

    def _error(self, what: str) -> None:
        self.samples.errors[what] = self.samples.errors.get(what, 0) + 1

    async def loop(self) -> None:
        write_share = 1.0 / (self.work.read_ratio + 1.0)
        while self.ops_left > 0 and time.monotonic() < self.deadline:
            self.ops_left -= 1
            if self.rate:
                self.next_at += 1.0 / self.rate
                delay = self.next_at - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            if self.rng.random() < write_share:
                await self._write()
            else:
                await self._read()

    async def _read(self) -> None:
        reader = self.rng.choice(self.manifest.readers)
        started = time.perf_counter()
        try:
            r = await self.http.get("/api/feed", params={"limit": 20}, headers=_auth(reader.token))
        except httpx.HTTPError as exc:
            self._error(type(exc).__name__)
            return
        if r.status_code == 200:
            self.samples.reads.append(time.perf_counter() - started)
        else:
            self._error(f"feed {r.status_code}")

    async def _write(self) -> None:
        author = self.rng.choice(self.manifest.writers)
        started = time.perf_counter()
        try:
            r = await self.http.post(
                "/api/posts", json={"content": f"bench {self.rng.random():.9f}"}, headers=_auth(author.token)
            )
        except httpx.HTTPError as exc:
            self._error(type(exc).__name__)
            return
        if r.status_code != 201:
            self._error(f"post {r.status_code}")
            return
        committed = time.perf_counter()
        self.samples.writes.append(committed - started)
        self.posts += 1
        every = self.work.probe_every
        if every and author.followers and self.posts % every == 0 and self.probes_running[0] < MAX_PROBES:
            follower = self.rng.choice(author.followers)
            task = asyncio.create_task(
                self._probe(r.json()["postId"], follower, author.follower_count, committed)
            )
            self.probes.add(task)
            task.add_done_callback(self.probes.discard)

    async def _probe(self, post_id: str, follower: str, follower_count: int, started: float) -> None:
        self.probes_running[0] += 1
        try:
            limit, wait = time.perf_counter() + PROBE_TIMEOUT, PROBE_FIRST_WAIT
            while time.perf_counter() < limit:
                self.samples.probe_reads += 1
                try:
                    r = await self.probe_http.get("/api/feed", params={"limit": 20}, headers=_auth(follower))
                    if r.status_code == 200 and any(p["postId"] == post_id for p in r.json()["posts"]):
                        self.samples.freshness.append((time.perf_counter() - started, follower_count))
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(wait)
                wait = min(wait * 1.5, PROBE_MAX_WAIT)
            self.samples.freshness.append((-1.0, follower_count))
        finally:
            self.probes_running[0] -= 1


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _run_process(work: Workload, manifest: Manifest, index: int) -> Samples:
    limits = httpx.Limits(max_connections=work.concurrency, max_keepalive_connections=work.concurrency)
    timeout = httpx.Timeout(30.0)
    cpu0, wall0 = time.process_time(), time.monotonic()
    probe_limits = httpx.Limits(max_connections=MAX_PROBES, max_keepalive_connections=MAX_PROBES)
    async with (
        httpx.AsyncClient(base_url=work.base_url, limits=limits, timeout=timeout) as http,
        httpx.AsyncClient(base_url=work.base_url, limits=probe_limits, timeout=timeout) as probe_http,
    ):
        running = [0]
        clients = [
            _Client(work, manifest, index * 1000 + i, http, probe_http, running)
            for i in range(work.concurrency)
        ]
        for c in clients:
            c.ops_left = max(1, work.max_ops // (work.processes * work.concurrency))
            c.rate = c.rate / work.concurrency
        await asyncio.gather(*(c.loop() for c in clients))
        pending = {t for c in clients for t in c.probes}
        if pending:
            await asyncio.wait(pending, timeout=PROBE_TIMEOUT + 1)
    total = Samples()
    for c in clients:
        total.merge(c.samples)
    total.cpu_seconds = time.process_time() - cpu0
    total.wall_seconds = time.monotonic() - wall0
    return total


def _process_main(work: Workload, manifest: Manifest, index: int, out: Any) -> None:
    samples = asyncio.run(_run_process(work, manifest, index))
    out.put(asdict(samples))


def drive(work: Workload, manifest: Manifest) -> Samples:
    """Run the workload from `work.processes` separate processes and merge what they measured."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_process_main, args=(work, manifest, i, queue)) for i in range(work.processes)
    ]
    for p in procs:
        p.start()
    total = Samples()
    for _ in procs:
        raw = queue.get(timeout=work.duration + PROBE_TIMEOUT + 120)
        raw["freshness"] = [tuple(x) for x in raw["freshness"]]
        total.merge(Samples(**raw))
    for p in procs:
        p.join(timeout=30)
        if p.is_alive():
            p.kill()
    return total
