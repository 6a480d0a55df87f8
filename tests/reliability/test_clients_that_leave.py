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
    sock = socket.create_connection(("127.0.0.1", service.port), timeout=timeout)
    sock.sendall(_request(route, f"anyone there on {route}?"))
    assert wait_until(lambda: sim_stats(simulator)["open_streams"] == 1)
    return sock


@pytest.mark.parametrize("route", ROUTES)
def test_a_client_that_leaves_before_the_first_token_is_let_go_without_retries(
    stalled: Stalled, route: str
) -> None:
    simulator, service = stalled(CHAT_UPSTREAM_FIRST_TOKEN_TIMEOUT_SECONDS="4",
                                 CHAT_UPSTREAM_MAX_RETRIES="2")
    with _waiting_request(service, simulator, route):
        time.sleep(1.0)
    left = time.monotonic()
    assert wait_until(lambda: sim_stats(simulator)["cancelled_streams"] == 1, 3)
    assert time.monotonic() - left < 4 * PING + 1  # within about one ping interval
    assert wait_until(lambda: _active_streams(service) == 0, 3)
    time.sleep(4.0)  # past the first-token deadline: a retry would show up now
    assert sim_stats(simulator)["requests"] == 1


def _read_all(sock: socket.socket) -> bytes:
    seen = b""
    while chunk := sock.recv(65536):
        seen += chunk
    return seen


@pytest.mark.parametrize("route", ROUTES)
def test_the_end_of_the_shutdown_grace_is_said_on_every_route(
    stalled: Stalled, route: str
) -> None:
    simulator, service = stalled(CHAT_SHUTDOWN_GRACE_SECONDS="1",
                                 CHAT_UPSTREAM_FIRST_TOKEN_TIMEOUT_SECONDS="60")
    answers: list[bytes] = []
    with _waiting_request(service, simulator, route, timeout=20) as sock:
        reader = threading.Thread(target=lambda: answers.append(_read_all(sock)))
        reader.start()
        assert service.popen is not None
        stopped = time.monotonic()
        service.popen.send_signal(signal.SIGTERM)
        reader.join(15)
        ended = time.monotonic() - stopped
    answer = answers[0].decode()
    if route == "stream":  # headers went out with meta: the stream ends in-band
        assert answer.startswith("HTTP/1.1 200")
        assert "event: error" in answer and '"shutting_down"' in answer
    else:  # nothing was sent yet: a real status
        assert answer.startswith("HTTP/1.1 503"), answer[:200]
        assert '"shutting_down"' in answer
    assert ended < 1 + 4 * PING + 1  # the grace, then at most about one ping interval
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
        assert time.monotonic() - stopped < 5  # the worker's own limit is 34 s here
        # Nothing serves it any more: a late request is refused, never left hanging.
        try:
            idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert idle.recv(1) == b""
        except ConnectionResetError:
            pass
    assert service.log_path is not None
    assert "graceful timeout" not in service.log_path.read_text()
