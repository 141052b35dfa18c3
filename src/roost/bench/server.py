"""The server under test: `roost serve` as a loopback subprocess, with its CPU time and metrics."""

from __future__ import annotations

import contextlib
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from roost.core.settings import Settings

_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def settings_env(settings: Settings) -> dict[str, str]:
    """The ROOST_* environment that reproduces these settings in a child process."""
    env = {
        "ROOST_DATA_DIR": str(settings.data_dir.resolve()),
        "ROOST_CELEBRITY_THRESHOLD": str(settings.celebrity_threshold),
        "ROOST_FANOUT_STRATEGY": settings.fanout_strategy,
        "ROOST_TIMELINE_CAP": str(settings.timeline_cap),
        "ROOST_SECRET_KEY": settings.resolved_secret_key(),
        "ROOST_REDIS_PREFIX": settings.redis_prefix,
    }
    if settings.database_url:
        env["ROOST_DATABASE_URL"] = settings.database_url
    if settings.redis_url:
        env["ROOST_REDIS_URL"] = settings.redis_url
    return env


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def tree_cpu_seconds(pid: int) -> float:
    """CPU of a process and of all its descendants alive now (uvicorn's API worker processes)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += cpu_seconds(current)
        todo.extend(children.get(current, []))
    return total


@dataclass(frozen=True, slots=True)
class Histogram:
    """Cumulative bucket counts of a Prometheus histogram: upper bound -> observations <= it."""

    buckets: dict[float, float]

    @property
    def count(self) -> float:
        return self.buckets.get(math.inf, 0.0)

    def minus(self, earlier: Histogram) -> Histogram:
        return Histogram({b: n - earlier.buckets.get(b, 0.0) for b, n in self.buckets.items()})

    def share_within(self, bound: float) -> float | None:
        """Fraction of observations <= bound (a bucket bound: exact)."""
        return self.buckets.get(bound, 0.0) / self.count if self.count else None

    def quantile(self, q: float) -> float | None:
        """Estimate, interpolating linearly inside the bucket (as Prometheus's histogram_quantile)."""
        if not self.count:
            return None
        rank, lower, below = q * self.count, 0.0, 0.0
        for bound, cumulative in sorted(self.buckets.items()):
            if cumulative >= rank:
                if math.isinf(bound):
                    return lower
                inside = cumulative - below
                return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
            lower, below = bound, cumulative
        return lower


def scrape(url: str) -> str:
    return httpx.get(url, timeout=10).text


def counter_value(text: str, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def histogram(text: str, name: str, labels: dict[str, str]) -> Histogram:
    """The buckets of one labelled series, e.g. histogram(text, "roost_fanout_freshness_seconds", {"tier": "push"})."""
    buckets: dict[float, float] = {}
    for raw_labels, value in re.findall(rf"^{name}_bucket{{([^}}]*)}} (\S+)$", text, re.MULTILINE):
        found = dict(re.findall(r'(\w+)="([^"]*)"', raw_labels))
        if all(found.get(k) == v for k, v in labels.items()):
            bound = found["le"]
            buckets[math.inf if bound == "+Inf" else float(bound)] = float(value)
    return Histogram(buckets)


@dataclass
class ServerUnderTest:
    process: subprocess.Popen[bytes]
    base_url: str
    # `roost worker` processes (production profile: they consume the event stream and fan out).
    workers: list[subprocess.Popen[bytes]]
    # Where each worker serves its Prometheus metrics.
    worker_metrics: list[str]

    def cpu(self) -> float:
        return tree_cpu_seconds(self.process.pid)

    def workers_cpu(self) -> float:
        return sum(cpu_seconds(w.pid) for w in self.workers)

    def _fanout_metrics(self) -> list[str]:
        """Metrics of whoever fans out: the server itself (embedded), else the workers."""
        return [scrape(url) for url in (self.worker_metrics or [self.base_url + "/metrics"])]

    def timeline_inserts(self) -> float:
        return sum(counter_value(text, "roost_timeline_inserts_total") for text in self._fanout_metrics())

    def freshness(self) -> Histogram:
        """Commit-to-last-follower times of pushed posts, summed over the fan-out processes."""
        total: dict[float, float] = {}
        for text in self._fanout_metrics():
            for bound, n in histogram(
                text, "roost_fanout_freshness_seconds", {"tier": "push"}
            ).buckets.items():
                total[bound] = total.get(bound, 0.0) + n
        return Histogram(total)


@contextlib.contextmanager
def serve(
    settings: Settings, *, log_path: Path | None = None, workers: int = 1, api_processes: int = 1
) -> Iterator[ServerUnderTest]:
    """Start `roost serve` on a free loopback port (in production with `api_processes` API
    processes, and `workers` x `roost worker`), and stop them afterwards (bounded waits both ways)."""
    port = free_port()
    env = {**os.environ, **settings_env(settings), "ROOST_HOST": "127.0.0.1", "ROOST_PORT": str(port)}
    log = open(log_path or os.devnull, "wb")  # noqa: SIM115 - closed in finally with the process
    roost = Path(sys.executable).with_name("roost")
    command = [str(roost)] if roost.exists() else [sys.executable, "-m", "roost.cli"]
    process = subprocess.Popen(
        [*command, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(api_processes)],
        env=env,
        stdout=log,
        stderr=log,
        # Its own process group: stopping it also stops uvicorn's API worker processes, even
        # when the supervisor itself has to be killed.
        start_new_session=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    metrics_ports = [free_port() for _ in range(0 if settings.is_embedded else workers)]
    worker_procs = [
        subprocess.Popen(
            [*command, "worker", "--name", f"bench-{port}-{i}", "--metrics-port", str(metrics_port)],
            env=env,
            stdout=log,
            stderr=log,
        )
        for i, metrics_port in enumerate(metrics_ports)
    ]
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"roost serve exited with {process.returncode} (log: {log_path})")
            try:
                if httpx.get(base_url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("roost serve did not become healthy within 60 s")
            time.sleep(0.2)
        worker_metrics = [f"http://127.0.0.1:{p}/metrics" for p in metrics_ports]
        _wait_for_metrics(worker_metrics, worker_procs, deadline)
        yield ServerUnderTest(process, base_url, worker_procs, worker_metrics)
    finally:
        _signal_group(process, signal.SIGTERM)
        for child in worker_procs:
            child.terminate()
        for child in (process, *worker_procs):
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(timeout=5)
        _signal_group(process, signal.SIGKILL)  # whatever of the group is left
        log.close()


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def _wait_for_metrics(urls: list[str], workers: list[subprocess.Popen[bytes]], deadline: float) -> None:
    for url, worker in zip(urls, workers, strict=True):
        while True:
            if worker.poll() is not None:
                raise RuntimeError(f"roost worker exited with {worker.returncode}")
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise RuntimeError("roost worker did not serve metrics within 60 s") from None
                time.sleep(0.2)
