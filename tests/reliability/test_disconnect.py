"""A client that hangs up stops the upstream generating, before or after the first token."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from loadtests.processes import ManagedProcess
from otel import semconv
from tests.reliability.conftest import sim_stats

PING = "0.25"


def _open_stream_and_drop(service: ManagedProcess, wait_for_token: bool) -> None:
    """Send a streaming request over a raw socket, read a little, then close the socket."""
    body = b'{"message": "Please describe every plan in great detail"}'
    request = (
        b"POST /api/chat/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode()
        + b"\r\n\r\n" + body
    )
    with socket.create_connection(("127.0.0.1", service.port), timeout=10) as sock:
        sock.sendall(request)
        seen = b""
        marker = b"event: token" if wait_for_token else b"event: meta"
        while marker not in seen:
            chunk = sock.recv(4096)
            assert chunk, "the service closed the stream early"
            seen += chunk


def _wait_for(predicate, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _active_streams(service: ManagedProcess) -> float:
    text = httpx.get(f"{service.url}/metrics").text
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
              if line.startswith(semconv.PROM_ACTIVE_STREAMS + "{")]
    return sum(values)


@pytest.mark.parametrize(
    ("fault", "wait_for_token"),
    [("stall-first-token", False), ("stall-mid-stream", True)],
    ids=["before-first-token", "after-first-token"],
)
def test_client_disconnect_cancels_the_upstream_request(
    start_faulty_simulator, start_chat_service, fault: str, wait_for_token: bool
) -> None:
    simulator = start_faulty_simulator(fault, stall_seconds=60)
    service = start_chat_service(simulator.url, CHAT_PING_INTERVAL_SECONDS=PING,
                                 CHAT_UPSTREAM_FIRST_TOKEN_TIMEOUT_SECONDS="60",
                                 CHAT_UPSTREAM_IDLE_TIMEOUT_SECONDS="60")
    _open_stream_and_drop(service, wait_for_token)
    assert _wait_for(lambda: sim_stats(simulator)["open_streams"] == 1
                     or sim_stats(simulator)["cancelled_streams"] == 1)

    # Within about one keep-alive interval the service notices and closes its upstream request.
    assert _wait_for(lambda: sim_stats(simulator)["cancelled_streams"] == 1, seconds=3)
    assert sim_stats(simulator)["open_streams"] == 0
    assert _wait_for(lambda: _active_streams(service) == 0, seconds=3)
