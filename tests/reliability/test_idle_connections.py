"""Issue 21, item 5: connections that never send a byte cannot starve the requests that do.

Before: 2,300 silent connections, reopened when closed, filled a worker's connection pool
(``CHAT_MAX_STREAMS_PER_WORKER`` + 100), so every real request waited 3-5 s in the listen
backlog for one of them to time out — and with ``CHAT_KEEPALIVE_SECONDS=120`` (the advice behind
a load balancer) every one timed out, since the keep-alive was also the deadline for a first
request's headers. Now a request's headers have their own deadline
(``CHAT_HEADER_TIMEOUT_SECONDS``) and, when connections near ``CHAT_MAX_CONNECTIONS_PER_WORKER``,
the ones that have sent nothing make room for new ones.
"""

from __future__ import annotations

import selectors
import socket
import statistics
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from loadtests.processes import ManagedProcess

pytestmark = pytest.mark.integration

IDLE = 2_300
# What the issue asks: well under 100 ms with the flood open (it was 3-5 s, or a time-out).
FAST = 0.1


class SilentFlood:
    """``count`` connections that never send a byte, each reopened when the service closes it."""

    def __init__(self, port: int, count: int) -> None:
        self._port = port
        self._count = count
        self._selector = selectors.DefaultSelector()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.reopened = 0

    def _open(self) -> None:
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", self._port))
        self._selector.register(sock, selectors.EVENT_READ)

    def __enter__(self) -> SilentFlood:
        for _ in range(self._count):
            self._open()
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._selector.select(0.1):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                self._selector.unregister(sock)
                sock.close()
                self.reopened += 1
                self._open()

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        for key in list(self._selector.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        self._selector.close()


def _request_times(service: ManagedProcess, count: int = 30) -> list[float]:
    """Seconds each of ``count`` requests took, each on a new connection, as a new client's;
    one every 0.1 s."""
    times = []
    no_reuse = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(base_url=service.url, timeout=10, limits=no_reuse) as client:
        for i in range(count):
            started = time.perf_counter()
            response = client.post("/api/chat/quick", json={"message": f"q {i}"})
            times.append(time.perf_counter() - started)
            assert response.status_code == 200
            time.sleep(0.1)
    return times


@pytest.fixture
def flooded(start_chat_service, simulator: ManagedProcess, request) -> Iterator[ManagedProcess]:
    service = start_chat_service(simulator.url, **request.param)
    time.sleep(0.5)  # the worker has imported everything
    with SilentFlood(service.port, IDLE):
        time.sleep(1.0)  # every silent connection is accepted (or queued)
        yield service


@pytest.mark.parametrize("flooded", [
    {"CHAT_KEEPALIVE_SECONDS": "120"},  # the defaults, behind a load balancer
    {"CHAT_MAX_CONNECTIONS_PER_WORKER": "600",  # fewer connections allowed than the flood
     "CHAT_MAX_STREAMS_PER_WORKER": "500"},
], indirect=True, ids=["long-keepalive", "connections-capped"])
def test_silent_connections_do_not_starve_real_requests(flooded: ManagedProcess) -> None:
    times = _request_times(flooded)
    assert statistics.median(times) < FAST, f"median {statistics.median(times) * 1000:.0f} ms"
    assert max(times) < 1.0, f"slowest {max(times) * 1000:.0f} ms"


def test_a_request_line_and_headers_have_a_deadline_of_their_own(
    start_chat_service, simulator: ManagedProcess
) -> None:
    service = start_chat_service(simulator.url, CHAT_HEADER_TIMEOUT_SECONDS="1",
                                 CHAT_KEEPALIVE_SECONDS="120")
    with socket.create_connection(("127.0.0.1", service.port), timeout=10) as silent, \
            socket.create_connection(("127.0.0.1", service.port), timeout=10) as slow:
        started = time.monotonic()
        # A header line every 0.3 s, never a whole request; the last goes 0.1 s before the 1 s
        # deadline (one sent just as the worker closes would be unread, and the close a reset).
        for piece in (b"GET /healthz HTTP/1.1\r\n", b"Host: x\r\n", b"X-A: 1\r\n", b"X-B: 2\r\n"):
            slow.sendall(piece)
            time.sleep(0.3)
        assert slow.recv(4096) == b""
        assert silent.recv(1) == b""
        assert time.monotonic() - started < 5
    # A kept-alive connection may wait its keep-alive for the next request.
    with socket.create_connection(("127.0.0.1", service.port), timeout=10) as kept:
        assert _healthz(kept).startswith(b"HTTP/1.1 200")
        time.sleep(2)  # past the header deadline, within the keep-alive
        assert _healthz(kept).startswith(b"HTTP/1.1 200")


def _healthz(sock: socket.socket) -> bytes:
    """One ``GET /healthz`` on ``sock``, read to the end of its body."""
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    seen = b""
    while not seen.endswith(b"}\n"):
        chunk = sock.recv(4096)
        assert chunk, f"closed after {seen!r}"
        seen += chunk
    return seen
