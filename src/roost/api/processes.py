"""`roost serve --workers N`: N API processes, each with a listening socket of its own on one port.

uvicorn's multi-process mode shares one listening socket among its processes, and whichever process
is awake accepts. A burst of new connections, such as a proxy's keep-alive pool opening, can all land
in one process while the others idle: all 32 of wrk's connections went to one of two processes,
which served half of what two could (BENCHMARKS.md, session 7). Here each process binds its own
socket with SO_REUSEPORT, and the kernel spreads new connections across the listening sockets by a
hash of their addresses (as nginx's `reuse_port` does).

The parent first makes sure nothing listens on the port (SO_REUSEPORT would let a second server of
the same user share it silently), then holds the port with a bound socket that never listens, so no
connection is queued on it. It starts the processes and:

* replaces one that dies (a replacement that fails to start is tried again, less and less often,
  while its siblings serve);
* on SIGHUP, replaces them one at a time, each old one stopped once its replacement serves;
* on SIGINT or SIGTERM, stops them all; a process whose parent died stops by itself.

When a process of the first set exits before it served (the app failed to import, or its startup
failed: a bad setting, an unreachable database), the server stops with its exit code instead of
starting it again in a loop.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import multiprocessing
import multiprocessing.connection
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

import uvicorn

log = logging.getLogger("roost.serve")

# Least time between two starts of one process slot; doubled for each replacement that fails to
# start, up to the most.
RESTART_SECONDS, MOST_RESTART_SECONDS = 1.0, 30.0
# How long a process may take to start serving when replacing one on SIGHUP.
START_SECONDS = 60.0
# How long stopping processes may take to finish their requests before they are killed.
STOP_SECONDS = 15.0
# Pending connections per process (uvicorn's default).
BACKLOG = 2048


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port) that other sockets of this user may bind too."""
    return _bound(host, port, reuse_port=True)


def _bound(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _reserve(host: str, port: int) -> list[socket.socket]:
    """The port held for this server's processes (the reservation first); OSError when another
    server holds it or another socket listens on it."""
    held: list[socket.socket] = []
    if port != 0:
        if sys.platform.startswith("linux"):
            # A name in the abstract namespace: one holder at a time, released with the process.
            # It covers the moments when no process of a server listens (starting, restarting).
            claim = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                claim.bind(f"\0roost-serve:{host}:{port}")
            except OSError:
                claim.close()
                raise OSError(errno.EADDRINUSE, "another roost serve holds this address") from None
            held.append(claim)
        # Without SO_REUSEPORT this bind fails while anything listens on the port.
        try:
            _bound(host, port, reuse_port=False).close()
        except OSError:
            for sock in held:
                sock.close()
            raise
    return [reuse_port_socket(host, port), *held]


@dataclass
class _Child:
    process: BaseProcess
    ready: Any  # a shared byte the process sets once it serves (its app's startup done)
    started: float
    first: bool  # of the set started with the server

    def serves(self) -> bool:
        return bool(self.ready.value)


class _Supervisor:
    def __init__(self, app: str, host: str, port: int, log_level: str) -> None:
        self.app, self.host, self.port, self.log_level = app, host, port, log_level
        self.context = multiprocessing.get_context("spawn")
        self.stopping = False
        self.reload = False
        self.children: list[_Child] = []
        self.delays: dict[int, float] = {}  # per slot: the last wait before a start again
        self.due: dict[int, float] = {}  # per slot whose process exited: when to start another
        self.exit_code = 0

    def start(self, index: int, *, first: bool) -> _Child:
        ready = self.context.RawValue("b", 0)
        process = self.context.Process(
            target=_serve_one,
            args=(self.app, self.host, self.port, self.log_level, ready, first),
            name=f"roost-api-{index}",
        )
        process.start()
        return _Child(process, ready, time.monotonic(), first)

    def run(self, processes: int) -> None:
        for index in range(processes):
            self.children.append(self.start(index, first=True))
        while not self.stopping:
            waiting = [c.process.sentinel for i, c in enumerate(self.children) if i not in self.due]
            multiprocessing.connection.wait(waiting, timeout=0.5)
            if self.reload:
                self.reload = False
                self.replace_all()
            for index, child in enumerate(self.children):
                if self.stopping:
                    break
                if index not in self.due and not child.process.is_alive():
                    self.exited(index)
                if index in self.due and time.monotonic() >= self.due[index] and not self.stopping:
                    del self.due[index]
                    self.children[index] = self.start(index, first=False)

    def exited(self, index: int) -> None:
        """A process exited: stop (one of the first set that never served), or start another in
        its slot when due. Slots wait apart: one that keeps failing delays no other."""
        child = self.children[index]
        code = child.process.exitcode
        if child.first and not child.serves():
            log.error("API process %d exited with %s before it served; stopping", index, code)
            self.exit_code = code if code is not None and code > 0 else 1
            self.stopping = True
            return
        delay = RESTART_SECONDS
        if not child.serves():  # a replacement that failed to start: try again, less often
            delay = min(self.delays.get(index, RESTART_SECONDS) * 2, MOST_RESTART_SECONDS)
            log.error("API process %d exited with %s while starting; again in %.0f s", index, code, delay)
        else:
            log.warning("API process %d exited with %s; starting another", index, code)
        self.delays[index] = delay
        self.due[index] = max(time.monotonic(), child.started + RESTART_SECONDS) + (
            0.0 if child.serves() else delay
        )

    def replace_all(self) -> None:
        """Each process replaced in turn, the old one stopped once the new one serves."""
        log.info("replacing the API processes one at a time")
        for index, old in enumerate(list(self.children)):
            new = self.start(index, first=False)
            deadline = time.monotonic() + START_SECONDS
            while not new.serves() and new.process.is_alive() and time.monotonic() < deadline:
                if self.stopping:
                    _stop_all([new.process])
                    return
                time.sleep(0.1)
            if not new.serves():
                log.error("a new API process did not start serving; keeping the old ones")
                _stop_all([new.process])
                return
            self.children[index] = new
            self.due.pop(index, None)
            _stop_all([old.process])


def serve_processes(app: str, *, host: str, port: int, processes: int, log_level: str = "info") -> int:
    """Serve the ASGI app `app` ("module:attribute") from `processes` processes until SIGINT or
    SIGTERM; the exit code (0, or that of a process that failed to start). Raises OSError when the
    port cannot be had."""
    held = _reserve(host, port)
    supervisor = _Supervisor(app, host, held[0].getsockname()[1], log_level)

    def stop(signum: int, frame: FrameType | None) -> None:
        supervisor.stopping = True

    def reload(signum: int, frame: FrameType | None) -> None:
        supervisor.reload = True

    handlers = {signal.SIGINT: stop, signal.SIGTERM: stop, signal.SIGHUP: reload}
    previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
    log.info("serving on %s:%d from %d processes", host, supervisor.port, processes)
    try:
        supervisor.run(processes)
    finally:
        _stop_all([c.process for c in supervisor.children])
        for sock in held:
            sock.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return supervisor.exit_code


def _stop_all(processes: list[BaseProcess]) -> None:
    for process in processes:
        if process.is_alive():
            process.terminate()  # SIGTERM: uvicorn finishes its requests and runs the app's shutdown
    deadline = time.monotonic() + STOP_SECONDS
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            log.warning("API process %s did not stop within %.0f s; killed", process.name, STOP_SECONDS)
            process.kill()
            process.join(5)


class _Server(uvicorn.Server):
    """uvicorn's server, telling the parent once it serves, and stopping when the parent is gone."""

    def __init__(self, config: uvicorn.Config, ready: Any) -> None:
        super().__init__(config)
        self._ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.should_exit:
            self._ready.value = 1

    def stop_with_parent(self) -> None:
        parent = multiprocessing.parent_process()
        if parent is None:
            return

        def watch() -> None:
            multiprocessing.connection.wait([parent.sentinel])
            log.warning("the supervising process is gone; stopping")
            self.should_exit = True  # read by uvicorn's main loop every 0.1 s

        threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _serve_one(  # pragma: no cover - runs in a child process
    app: str, host: str, port: int, log_level: str, ready: Any, listen_now: bool
) -> None:
    sock = reuse_port_socket(host, port)
    if listen_now:
        # The first set listens before the app loads: connections the kernel hashes here wait in
        # this backlog rather than all going to the process that happens to be up first. A
        # replacement listens once it serves (uvicorn starts listening then), so its siblings
        # take the new connections meanwhile.
        sock.listen(BACKLOG)
    # A terminal's Ctrl+C reaches the whole group, the parent's SIGTERM each process: uvicorn shuts
    # down gracefully on the first signal and ignores the second.
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False, backlog=BACKLOG)
    server = _Server(config, ready)
    server.stop_with_parent()
    # uvicorn raises a Ctrl+C again once it has shut down gracefully: nothing left to report.
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[sock])
