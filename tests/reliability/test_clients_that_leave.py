"""Issue 21, items 3 and 6: every route lets go of a client that left, and of every client when
the shutdown grace ends.

Before: a ``/v1/chat/completions`` request with ``stream: false`` or a ``/api/chat`` request
whose client closed kept its stream slot and its upstream call, with retries at +30 s and +60 s;
on SIGTERM those routes and a ``/v1`` stream still waiting for its first token were cut with 0
bytes when gunicorn gave up, instead of getting ``shutting_down`` or a 503; and a connection that
never sent a request held the shutdown for the worker's whole graceful timeout.
"""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from collections.abc import Callable

import httpx
import pytest

from loadtests.processes import ManagedProcess
from otel import semconv
from otel.testing import wait_until
from tests.reliability.conftest import sim_stats

pytestmark = pytest.mark.integration

PING = 0.25
ROUTES = ("stream", "json", "v1-stream", "v1")
Stalled = Callable[..., tuple[ManagedProcess, ManagedProcess]]


def _request(route: str, message: str) -> bytes:
    if route.startswith("v1"):
        path = "/v1/chat/completions"
        body = {"model": "auto", "stream": route == "v1-stream",
                "messages": [{"role": "user", "content": message}]}
    else:
        path = "/api/chat/stream" if route == "stream" else "/api/chat"
        body = {"message": message}
    raw = json.dumps(body).encode()
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(raw)}\r\n\r\n").encode() + raw


def _active_streams(service: ManagedProcess) -> float:
    total = 0.0
    for line in httpx.get(f"{service.url}/metrics", timeout=5).text.splitlines():
        if line.startswith(semconv.PROM_ACTIVE_STREAMS):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.fixture
def stalled(start_faulty_simulator, start_chat_service) -> Stalled:
    """Start a simulator that never sends a first token, and a service (``env``) in front."""

    def start(**env: str) -> tuple[ManagedProcess, ManagedProcess]:
        simulator = start_faulty_simulator("stall-first-token", stall_seconds=60)
        return simulator, start_chat_service(simulator.url,
                                             CHAT_PING_INTERVAL_SECONDS=str(PING), **env)

    return start


def _waiting_request(service: ManagedProcess, simulator: ManagedProcess, route: str,
                     timeout: float = 10) -> socket.socket:
    """A connection whose request on ``route`` waits for the (stalled) upstream's first token."""
    opened = sim_stats(simulator)["requests"]
    sock = socket.create_connection(("127.0.0.1", service.port), timeout=timeout)
    sock.sendall(_request(route, f"anyone there on {route}?"))
    assert wait_until(lambda: sim_stats(simulator)["requests"] == opened + 1)
    return sock


def test_a_client_that_leaves_before_the_first_token_is_let_go_without_retries(
    stalled: Stalled,
) -> None:
    simulator, service = stalled(CHAT_UPSTREAM_FIRST_TOKEN_TIMEOUT_SECONDS="4",
                                 CHAT_UPSTREAM_MAX_RETRIES="2")
    for let_go, route in enumerate(ROUTES, 1):
        with _waiting_request(service, simulator, route):
            time.sleep(0.5)
        left = time.monotonic()
        assert wait_until(lambda n=let_go: sim_stats(simulator)["cancelled_streams"] == n, 3), route
        assert time.monotonic() - left < 4 * PING + 1, route  # within about one ping interval
        assert wait_until(lambda: _active_streams(service) == 0, 3), route
    time.sleep(4.0)  # past every first-token deadline: a retry would show up now
    assert sim_stats(simulator)["requests"] == len(ROUTES)


def _read_all(sock: socket.socket) -> bytes:
    seen = b""
    while chunk := sock.recv(65536):
        seen += chunk
    return seen


def test_the_end_of_the_shutdown_grace_is_said_on_every_route(stalled: Stalled) -> None:
    simulator, service = stalled(CHAT_SHUTDOWN_GRACE_SECONDS="1",
                                 CHAT_UPSTREAM_FIRST_TOKEN_TIMEOUT_SECONDS="60")
    answers: dict[str, bytes] = {}
    connections = {route: _waiting_request(service, simulator, route, timeout=20)
                   for route in ROUTES}
    readers = [threading.Thread(target=lambda r=route, c=sock: answers.update({r: _read_all(c)}))
               for route, sock in connections.items()]
    for reader in readers:
        reader.start()
    assert service.popen is not None
    stopped = time.monotonic()
    service.popen.send_signal(signal.SIGTERM)
    for reader in readers:
        reader.join(15)
    ended = time.monotonic() - stopped
    for sock in connections.values():
        sock.close()
    # A stream whose headers went out with meta ends in-band; the others had sent nothing yet
    # and get a real status.
    assert answers["stream"].startswith(b"HTTP/1.1 200")
    assert b"event: error" in answers["stream"] and b'"shutting_down"' in answers["stream"]
    for route in ("json", "v1-stream", "v1"):
        assert answers[route].startswith(b"HTTP/1.1 503"), (route, answers[route][:200])
        assert b'"shutting_down"' in answers[route], route
    assert ended < 1 + 4 * PING + 2  # the grace, then about one ping interval
    assert service.popen.wait(timeout=10) == 0


def test_a_connection_that_never_sent_a_request_does_not_hold_the_shutdown(
    simulator: ManagedProcess, start_chat_service
) -> None:
    service = start_chat_service(simulator.url, CHAT_SHUTDOWN_GRACE_SECONDS="1",
                                 CHAT_PING_INTERVAL_SECONDS="30", CHAT_KEEPALIVE_SECONDS="120")
    with socket.create_connection(("127.0.0.1", service.port), timeout=10) as idle:
        assert httpx.get(f"{service.url}/healthz").status_code == 200  # accepted and served
        assert service.popen is not None
        stopped = time.monotonic()
        service.popen.send_signal(signal.SIGTERM)
        assert service.popen.wait(timeout=30) == 0
        # The worker's own limit is 34 s here, what an idle connection used to hold it for.
        assert time.monotonic() - stopped < 15
        # Nothing serves it any more: a late request is refused, never left hanging.
        try:
            idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert idle.recv(1) == b""
        except ConnectionResetError:
            pass
    assert service.log_path is not None
    assert "graceful timeout" not in service.log_path.read_text()
