"""`roost serve --workers N`: every process gets a share of the connections, and the set stays up."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from roost.api.processes import _reserve, reuse_port_socket
from roost.bench.server import free_port

# A tiny ASGI app that answers with the id of the process serving the connection.
PID_APP = "tests.api.pid_app:app"


def test_connections_spread_over_sockets_sharing_a_port() -> None:
    first = reuse_port_socket("127.0.0.1", 0)
    port = first.getsockname()[1]
    second = reuse_port_socket("127.0.0.1", port)
    clients: list[socket.socket] = []
    try:
        for listener in (first, second):
            listener.listen(128)
            listener.setblocking(False)
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(64)]
        time.sleep(0.2)
        accepted = [_accept_all(listener) for listener in (first, second)]
        assert sum(accepted) == 64
        assert min(accepted) > 0, accepted
    finally:
        for s in (*clients, first, second):
            s.close()


def test_an_address_is_claimed_by_one_server_even_before_it_listens() -> None:
    port = free_port()
    held = _reserve("127.0.0.1", port)  # a server starting: nothing listens yet
    try:
        with pytest.raises(OSError, match="another roost serve"):
            _reserve("127.0.0.1", port)
    finally:
        for sock in held:
            sock.close()
    for sock in _reserve("127.0.0.1", port):  # released with its holder
        sock.close()


def test_a_taken_port_is_refused() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        with pytest.raises(OSError, match="in use"):
            reuse_port_socket("127.0.0.1", taken.getsockname()[1])


def test_processes_share_keep_alive_connections_restart_and_stop() -> None:
    port = free_port()
    with _serving(PID_APP, port, processes=2) as server:
        pids = _both_serving(port)
        assert len(pids) == 2, pids  # one shared accept socket gave all 32 to one process
        killed = min(pids)
        os.kill(killed, signal.SIGKILL)
        serving = _serving_pids(port, lambda now: killed not in now and len(now) == 2)
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
        for pid in serving:
            assert not _alive(pid)


def test_ctrl_c_stops_every_process_quietly() -> None:
    port = free_port()
    with _serving(PID_APP, port, processes=2, capture=True) as server:
        pids = _both_serving(port)
        os.killpg(server.pid, signal.SIGINT)  # what a terminal's Ctrl+C sends: the whole group
        _, stderr = server.communicate(timeout=30)
        assert server.returncode == 0
        assert b"Traceback" not in stderr, stderr.decode()
        assert not any(_alive(pid) for pid in pids)


def test_a_second_server_on_the_port_is_refused() -> None:
    port = free_port()
    with _serving(PID_APP, port, processes=2) as first:
        pids = _both_serving(port)
        with _serving(PID_APP, port, processes=2, wait=False) as second:
            assert second.wait(timeout=30) != 0
        assert first.poll() is None
        assert _serving_pids(port, lambda now: len(now) == 2) == pids


def test_sighup_replaces_the_processes_one_at_a_time() -> None:
    port = free_port()
    with _serving(PID_APP, port, processes=2) as server:
        pids = _both_serving(port)
        server.send_signal(signal.SIGHUP)
        _serving_pids(port, lambda now: len(now) == 2 and not now & pids)
        assert server.poll() is None


def test_processes_stop_when_their_parent_dies() -> None:
    port = free_port()
    with _serving(PID_APP, port, processes=2) as server:
        pids = _both_serving(port)
        server.kill()
        deadline = time.monotonic() + 15
        while any(_alive(pid) for pid in pids):
            assert time.monotonic() < deadline, "orphaned API processes kept serving"
            time.sleep(0.1)


def test_a_replacement_that_cannot_start_is_retried_while_the_others_serve(tmp_path: Path) -> None:
    port, fail = free_port(), tmp_path / "fail"
    with _serving(PID_APP, port, processes=2, env={"PID_APP_FAIL": str(fail)}) as server:
        pids = _both_serving(port)
        fail.touch()  # as a half-deployed tree would
        os.kill(min(pids), signal.SIGKILL)
        time.sleep(4)  # replacements fail meanwhile
        assert server.poll() is None
        assert _pids_of_new_connections(port, count=8) == {max(pids)}
        fail.unlink()
        _serving_pids(port, lambda now: len(now) == 2)


def test_a_process_that_cannot_start_stops_the_server() -> None:
    with _serving("tests.api.pid_app:no_such_app", free_port(), processes=2, wait=False) as server:
        assert server.wait(timeout=60) != 0


@contextmanager
def _serving(
    app: str,
    port: int,
    *,
    processes: int,
    env: dict[str, str] | None = None,
    wait: bool = True,
    capture: bool = False,
) -> Iterator[subprocess.Popen[bytes]]:
    """`serve_processes` in a process group of its own; with `wait`, once a process answers."""
    code = (
        "import sys; from roost.api.processes import serve_processes; "
        f"sys.exit(serve_processes({app!r}, host='127.0.0.1', port={port}, processes={processes}))"
    )
    server = subprocess.Popen(
        [sys.executable, "-c", code],
        start_new_session=True,
        env={**os.environ, **(env or {})},
        stderr=subprocess.PIPE if capture else None,
    )
    try:
        deadline = time.monotonic() + 60
        while wait and server.poll() is None:
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "no process answered within 60 s"
                time.sleep(0.2)
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)  # the group: also processes left by a killed parent
        server.communicate(timeout=10)


def _both_serving(port: int) -> set[int]:
    """The two processes' ids, once both listen (the first answered already)."""
    deadline = time.monotonic() + 30
    while _listening_sockets(port) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return _pids_of_new_connections(port, count=32)


def _serving_pids(port: int, done: Callable[[set[int]], bool]) -> set[int]:
    """The processes answering new connections, once `done` holds for them (within 30 s)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            now = _pids_of_new_connections(port, count=32)
        except OSError:  # reset, or closed unanswered, by a process that is stopping
            now = set()
        if done(now):
            return now
        assert time.monotonic() < deadline, now
        time.sleep(0.3)


def _pids_of_new_connections(port: int, *, count: int) -> set[int]:
    """The processes that answered `count` keep-alive connections opened at once (as a proxy's
    pool opens), each asked once after all were open."""
    clients = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(count)]
    try:
        pids: set[int] = set()
        for client in clients:
            client.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.split(b"\r\n\r\n", 1)[1]:
                chunk = client.recv(4096)
                if not chunk:
                    # A process shutting down closes its idle keep-alive connections, as HTTP lets
                    # it (clients retry): while processes are replaced, asked again by the caller.
                    raise ConnectionResetError("connection closed before the answer")
                answer += chunk
            pids.add(int(answer.split(b"\r\n\r\n", 1)[1]))
        return pids
    finally:
        for client in clients:
            client.close()


def _accept_all(listener: socket.socket) -> int:
    accepted = 0
    while True:
        try:
            connection, _ = listener.accept()
        except BlockingIOError:
            return accepted
        connection.close()
        accepted += 1


def _listening_sockets(port: int) -> int:
    """Sockets listening on the loopback port (Linux: /proc/net/tcp, state 0A)."""
    with open("/proc/net/tcp") as table:
        rows = [line.split() for line in table.readlines()[1:]]
    return sum(1 for row in rows if row[1] == f"0100007F:{port:04X}" and row[3] == "0A")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
