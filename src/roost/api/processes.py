"""`roost serve --workers N`: N API processes, each with a listening socket of its own on one port.

uvicorn's multi-process mode shares one listening socket among its processes, and whichever process
is awake accepts. A burst of new connections, such as a proxy's keep-alive pool opening, can all land
in one process while the others idle: all 32 of wrk's connections went to one of two processes,
which served half of what two could (BENCHMARKS.md, session 7). Here each process binds its own
socket with SO_REUSEPORT, and the kernel spreads new connections across the listening sockets by a
hash of their addresses (as nginx's `reuse_port` does).

The parent holds the port (a bound socket that never listens, so no connection is queued on it),
starts the processes, replaces one that dies after it has started serving, and stops them all on
SIGINT or SIGTERM. A process that exits before it served (the app failed to import, or its startup
failed: a bad setting, an unreachable database) stops the server with its exit code instead of being
started again in a loop.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import signal
import socket
import time
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event
from types import FrameType

import uvicorn

log = logging.getLogger("roost.serve")

# Least time between two starts of one process slot (a process that keeps dying after its start).
RESTART_SECONDS = 1.0
# How long stopping processes may take to finish their requests before they are killed.
STOP_SECONDS = 15.0
# Pending connections per process (uvicorn's default).
BACKLOG = 2048


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port) that other sockets of this user may bind too."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


@dataclass
class _Child:
    process: BaseProcess
    ready: Event  # set once the process serves (its app's startup done)
    started: float


def serve_processes(app: str, *, host: str, port: int, processes: int, log_level: str = "info") -> int:
    """Serve the ASGI app `app` ("module:attribute") from `processes` processes until SIGINT or
    SIGTERM; the exit code (0, or that of a process that failed to start). Raises OSError when the
    port cannot be bound."""
    reservation = reuse_port_socket(host, port)
    port = reservation.getsockname()[1]
    context = multiprocessing.get_context("spawn")
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}

    def start(index: int) -> _Child:
        ready = context.Event()
        process = context.Process(
            target=_serve_one, args=(app, host, port, log_level, ready), name=f"roost-api-{index}"
        )
        process.start()
        return _Child(process, ready, time.monotonic())

    exit_code = 0
    children = [start(i) for i in range(processes)]
    log.info("serving on %s:%d from %d processes", host, port, processes)
    try:
        while not stopping:
            multiprocessing.connection.wait([c.process.sentinel for c in children], timeout=0.5)
            for index, child in enumerate(children):
                if stopping or child.process.is_alive():
                    continue
                code = child.process.exitcode
                if not child.ready.is_set():
                    log.error("API process %d exited with %s before it served; stopping", index, code)
                    exit_code = code or 1
                    stopping = True
                    break
                log.warning("API process %d exited with %s; starting another", index, code)
                time.sleep(max(0.0, child.started + RESTART_SECONDS - time.monotonic()))
                children[index] = start(index)
    finally:
        _stop_all([c.process for c in children])
        reservation.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return exit_code


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
    """uvicorn's server, telling the parent once it serves."""

    def __init__(self, config: uvicorn.Config, ready: Event) -> None:
        super().__init__(config)
        self._ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.should_exit:
            self._ready.set()


def _serve_one(app: str, host: str, port: int, log_level: str, ready: Event) -> None:  # pragma: no cover
    # Listening before the app loads: connections the kernel hashes here wait in this backlog
    # rather than going to the processes that happen to be up first.
    sock = reuse_port_socket(host, port)
    sock.listen(BACKLOG)
    # A terminal's Ctrl+C reaches the whole group, the parent's SIGTERM each process: uvicorn shuts
    # down gracefully on the first signal and ignores the second.
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False, backlog=BACKLOG)
    _Server(config, ready).run(sockets=[sock])
