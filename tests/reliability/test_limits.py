"""Backpressure and limits: refuse early and clearly instead of queueing without bound."""

from __future__ import annotations

import threading

import httpx
import pytest

from loadtests.processes import ManagedProcess
from tests.support import stream_chat


def test_body_message_and_history_caps(start_chat_service, simulator: ManagedProcess) -> None:
    service = start_chat_service(simulator.url, CHAT_MAX_BODY_BYTES="2000",
                                 CHAT_MAX_MESSAGE_CHARS="100", CHAT_MAX_HISTORY_MESSAGES="2")
    url = f"{service.url}/api/chat/stream"
    too_big = httpx.post(url, json={"message": "x" * 3000})
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "payload_too_large"
    too_long = httpx.post(url, json={"message": "x" * 101})
    assert too_long.status_code == 422 and "100" in too_long.json()["error"]["message"]
    history = [{"role": "user", "content": "hi"}] * 3
    too_much = httpx.post(url, json={"message": "hello", "history": history})
    assert too_much.status_code == 422 and too_much.json()["error"]["param"] == "history"


def test_a_full_worker_answers_503_with_retry_after(
    start_faulty_simulator, start_chat_service
) -> None:
    simulator = start_faulty_simulator("stall-first-token", stall_seconds=5)
    service = start_chat_service(simulator.url, CHAT_MAX_STREAMS_PER_WORKER="2",
                                 CHAT_UPSTREAM_FIRST_TOKEN_TIMEOUT_SECONDS="3",
                                 CHAT_UPSTREAM_MAX_RETRIES="0", CHAT_PING_INTERVAL_SECONDS="0.5")
    opened = threading.Barrier(3)

    def hold_a_stream(index: int) -> None:
        with httpx.Client(timeout=10) as client, client.stream(
            "POST", f"{service.url}/api/chat/stream", json={"message": f"slow {index}"}
        ) as response:
            assert response.status_code == 200
            opened.wait()
            for _ in response.iter_lines():
                pass

    holders = [threading.Thread(target=hold_a_stream, args=(i,)) for i in range(2)]
    for thread in holders:
        thread.start()
    opened.wait(timeout=10)
    refused = httpx.post(f"{service.url}/api/chat/stream", json={"message": "one more"})
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "overloaded"
    assert int(refused.headers["retry-after"]) >= 1
    for thread in holders:
        thread.join(timeout=15)


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_rate_limit_per_client(
    start_chat_service, simulator: ManagedProcess, redis_server: ManagedProcess, backend: str
) -> None:
    # Fixed windows: an hour keeps the four requests inside one window (a minute's edge could
    # fall between them and reset the count).
    env = {"CHAT_RATE_LIMIT": "3/hour", "CHAT_CACHE_NAMESPACE": f"rl-{backend}"}
    if backend == "redis":
        env["REDIS_URL"] = f"redis://127.0.0.1:{redis_server.port}/0"
    service = start_chat_service(simulator.url, **env)
    statuses = []
    for index in range(4):
        response, _ = stream_chat(service.url, {"message": f"question {index}"},
                                  headers={"X-Tenant": "acme"})
        statuses.append(response.status_code)
    assert statuses == [200, 200, 200, 429]
    limited = httpx.post(f"{service.url}/api/chat/stream", json={"message": "again"},
                         headers={"X-Tenant": "acme"})
    assert limited.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 3600
    # The tenant is a scope, not an identity: another tenant header is the same client.
    other, _ = stream_chat(service.url, {"message": "question 0"}, headers={"X-Tenant": "beta"})
    assert other.status_code == 429


def test_a_worker_past_a_thousand_descriptors_still_holds_openai_streams(
    start_faulty_simulator, start_chat_service
) -> None:
    """Descriptors past 1023 (a worker holding ~1,000 streams) break select(): none may use it."""
    import resource
    import socket

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    simulator = start_faulty_simulator("stall-first-token", stall_seconds=3)
    service = start_chat_service(simulator.url, CHAT_PING_INTERVAL_SECONDS="0.2",
                                 CHAT_UPSTREAM_FIRST_TOKEN_TIMEOUT_SECONDS="1",
                                 CHAT_UPSTREAM_MAX_RETRIES="0")
    idle = []
    try:
        for _ in range(1100):  # open connections: the service's next descriptors are > 1023
            idle.append(socket.create_connection(("127.0.0.1", service.port), timeout=5))
        response = httpx.post(f"{service.url}/v1/chat/completions", timeout=30, json={
            "model": "auto", "stream": True, "messages": [{"role": "user", "content": "hi"}]})
        # Held until the first token, which never comes: the upstream's time-out, not a 500.
        assert response.status_code == 504
        assert response.json()["error"]["code"] == "upstream_timeout"
    finally:
        for sock in idle:
            sock.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
