"""Lookup latency with 10 000 cached entries, per tier and backend (``make bench``).

Runs once as a plain test under the default ``--benchmark-disable``; with
``--benchmark-enable`` pytest-benchmark reports the distribution (p50/p99 in docs/cache.md).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from loadtests.processes import ManagedProcess
from service.cache import CachedAnswer, CacheScope, ChatCache
from service.settings import Settings

ENTRIES = 10_000
SCOPE = CacheScope("public", "v1", "auto", "")
TOOLS = [f"Tool{i}" for i in range(100)]
TEMPLATES = ("Can I sync {a} data into {b}?", "How do I send {a} alerts to {b}?")
# 10 000 distinct questions: integration questions over pairs of tools, plus the probe targets.
_PAIRS = [t.format(a=a, b=b) for t in TEMPLATES for a in TOOLS for b in TOOLS if a != b]
QUESTIONS = [
    *_PAIRS[: ENTRIES - 3],
    "How do I reset my password?", "How much does the Pro plan cost?", "Where is my data stored?",
]
PROBES = {
    "exact": "hi, how do i reset my password??",
    "variation": "What's the price of the Pro plan?",
    "semantic": "How do I reset my pasword?",
    "miss": "Can I sync Tool1 data into Tool1000?",
}


@pytest.fixture(scope="module", params=["memory", "redis"])
def full_cache(request: pytest.FixtureRequest) -> Iterator[ChatCache]:
    url = None
    if request.param == "redis":
        server: ManagedProcess = request.getfixturevalue("redis_server")
        url = f"redis://127.0.0.1:{server.port}/0"
    settings = Settings(redis_url=url, cache_namespace=f"b-{uuid.uuid4().hex[:6]}",
                        cache_timeout_ms=1000, cache_max_entries=20_000)
    cache = ChatCache.from_settings(settings)
    for question in QUESTIONS:
        cache.store(question, SCOPE, CachedAnswer(question, "a", "m", "fast", 1, 1, time.time()))
    cache.lookup("warm the semantic index", SCOPE)
    yield cache
    cache.close()


@pytest.mark.benchmark
@pytest.mark.parametrize("tier", list(PROBES))
def test_lookup_latency(benchmark, full_cache: ChatCache, tier: str) -> None:
    benchmark.group = f"lookup-{full_cache.backend_name}"
    hit = benchmark(full_cache.lookup, PROBES[tier], SCOPE)
    assert (hit.tier if hit else "miss") == tier
    assert full_cache.describe()["entries"] == ENTRIES
