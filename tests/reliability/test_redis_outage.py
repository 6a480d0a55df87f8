"""A slow or absent Redis degrades the service to uncached answers; it recovers by itself."""

from __future__ import annotations

import time

import httpx
import redis

from loadtests.processes import ManagedProcess, free_port, start_redis
from tests.support import require_binary, stream_chat


def _ready(service: ManagedProcess) -> dict:
    return httpx.get(f"{service.url}/readyz").json()


def _wait_for(predicate, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_service_starts_without_redis_and_recovers_when_it_comes(
    start_chat_service, simulator: ManagedProcess
) -> None:
    require_binary("redis-server", "redis-server")
    port = free_port()
    service = start_chat_service(simulator.url, REDIS_URL=f"redis://127.0.0.1:{port}/0")
    assert _ready(service)["checks"]["cache"]["status"] == "degraded"
    question = {"message": "Where can I download invoices?"}
    for _ in range(2):
        response, events = stream_chat(service.url, question)
        assert response.status_code == 200 and events[-1].event == "done"
        assert events[0].json()["cache"] == "miss"

    server = start_redis(port=port)
    try:
        assert _wait_for(lambda: _ready(service)["checks"]["cache"]["status"] == "ok")
        stream_chat(service.url, question)
        assert _wait_for(
            lambda: stream_chat(service.url, question)[1][0].json()["cache"] == "hit", 5
        )
        stats = httpx.get(f"{service.url}/api/cache/stats").json()
        assert stats["backend_errors"] >= 1

        # Redis goes away mid-life: answers continue, uncached, no hung request.
        server.stop()
        response, events = stream_chat(service.url, {"message": "Is there a mobile app?"},
                                       timeout=10)
        assert events[-1].event == "done"
        assert _ready(service)["checks"]["cache"]["status"] == "degraded"
    finally:
        server.stop()


def test_a_paused_redis_is_skipped_within_the_time_box(
    start_chat_service, simulator: ManagedProcess, redis_server: ManagedProcess
) -> None:
    url = f"redis://127.0.0.1:{redis_server.port}/0"
    service = start_chat_service(simulator.url, REDIS_URL=url, CHAT_CACHE_TIMEOUT_MS="50",
                                 CHAT_CACHE_NAMESPACE="pause-test")
    question = {"message": "What regions do you host data in?"}
    stream_chat(service.url, question)
    control = redis.Redis.from_url(url)
    control.execute_command("CLIENT", "PAUSE", "3000", "ALL")
    try:
        _, events = stream_chat(service.url, question, timeout=10)
        done = events[-1].json()
        assert events[-1].event == "done"
        # the cache was skipped, not waited on for the whole pause
        assert done["timings"]["cache_ms"] < 1000
    finally:
        control.execute_command("CLIENT", "UNPAUSE")
