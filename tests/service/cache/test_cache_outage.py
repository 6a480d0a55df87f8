"""Redis stopped or paused: lookups answer "uncached" at once, count errors, and recover."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from loadtests.processes import ManagedProcess, start_redis
from service.cache import CachedAnswer, CacheScope, ChatCache
from service.settings import Settings
from tests.service.cache.conftest import Metrics
from tests.support import require_binary

SCOPE = CacheScope("public", "v1", "auto", "")
QUESTION = "How do I contact support?"
# Far above the 50 ms time box plus the breaker's bookkeeping; only a hang could exceed it.
NO_HANG_SECONDS = 2.0


@pytest.fixture
def own_redis() -> Iterator[ManagedProcess]:
    """A redis-server this test may stop and pause without disturbing others."""
    require_binary("redis-server", "redis-server")
    server = start_redis()
    yield server
    server.stop()


def _cache(server: ManagedProcess, metrics: Metrics) -> ChatCache:
    settings = Settings(redis_url=f"redis://127.0.0.1:{server.port}/0", cache_timeout_ms=50,
                        cache_breaker_seconds=0.3, cache_namespace=f"o-{uuid.uuid4().hex[:6]}")
    return ChatCache.from_settings(settings, metrics.instruments)


def _answer() -> CachedAnswer:
    return CachedAnswer(QUESTION, "contact", "m", "fast", 1, 1, time.time())


def _timed_lookup(cache: ChatCache) -> tuple[object, float]:
    started = time.monotonic()
    hit = cache.lookup(QUESTION, SCOPE)
    return hit, time.monotonic() - started


def test_dead_redis_degrades_and_recovers(own_redis: ManagedProcess, metrics: Metrics) -> None:
    cache = _cache(own_redis, metrics)
    cache.store(QUESTION, SCOPE, _answer())
    assert cache.lookup(QUESTION, SCOPE) is not None
    port = own_redis.port
    own_redis.stop()

    for _ in range(5):
        hit, took = _timed_lookup(cache)
        assert hit is None and took < NO_HANG_SECONDS
    cache.store(QUESTION, SCOPE, _answer())  # must not raise either
    assert metrics.total("chat.cache.lookups", result="error") == 5
    ok, detail = cache.health()
    assert not ok and "redis" in detail
    info = cache.describe()
    assert info["status"] == "degraded" and info["backend_errors"] >= 1

    replacement = start_redis(port=port)
    try:
        time.sleep(0.4)  # the breaker's cool-down, then the next call probes
        assert cache.health() == (True, "redis ok")
        cache.store(QUESTION, SCOPE, _answer())  # the new server started empty
        assert cache.lookup(QUESTION, SCOPE) is not None
        assert cache.describe()["status"] == "ok"
    finally:
        replacement.stop()
        cache.close()


def test_paused_redis_is_time_boxed(own_redis: ManagedProcess, metrics: Metrics) -> None:
    cache = _cache(own_redis, metrics)
    cache.store(QUESTION, SCOPE, _answer())
    admin = redis.Redis(host="127.0.0.1", port=own_redis.port)
    admin.execute_command("CLIENT", "PAUSE", 3000, "ALL")
    try:
        hit, took = _timed_lookup(cache)
        assert hit is None and took < NO_HANG_SECONDS
        hit, took = _timed_lookup(cache)  # breaker open: not even a round trip
        assert hit is None and took < NO_HANG_SECONDS
        assert metrics.total("chat.cache.lookups", result="error") == 2
        assert cache.describe()["status"] == "degraded"
    finally:
        admin.execute_command("CLIENT", "UNPAUSE")
        admin.close()
    time.sleep(0.4)
    assert cache.lookup(QUESTION, SCOPE) is not None
    cache.close()
