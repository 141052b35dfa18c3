"""The server under test: `roost serve` as a loopback subprocess, with its CPU time and metrics."""

from __future__ import annotations

import contextlib
import os
import re
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


@dataclass
class ServerUnderTest:
    process: subprocess.Popen[bytes]
    base_url: str
    # `roost worker` processes (production profile: they consume the event stream and fan out).
    workers: list[subprocess.Popen[bytes]]

    def cpu(self) -> float:
        return tree_cpu_seconds(self.process.pid)

    def workers_cpu(self) -> float:
        return sum(cpu_seconds(w.pid) for w in self.workers)

    def timeline_inserts(self) -> float:
        text = httpx.get(self.base_url + "/metrics", timeout=10).text
        match = re.search(r"^roost_timeline_inserts_total (\S+)$", text, re.MULTILINE)
        return float(match.group(1)) if match else 0.0


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
    )
    base_url = f"http://127.0.0.1:{port}"
    worker_procs = [
        subprocess.Popen([*command, "worker", "--name", f"bench-{port}-{i}"], env=env, stdout=log, stderr=log)
        for i in range(0 if settings.is_embedded else workers)
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
        yield ServerUnderTest(process, base_url, worker_procs)
    finally:
        for child in (process, *worker_procs):
            child.terminate()
        for child in (process, *worker_procs):
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(timeout=5)
        log.close()
