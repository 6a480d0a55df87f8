"""ChatCache on both backends: tiers, scope isolation, TTL, size bound, sharing, metrics."""

from __future__ import annotations

import time

import pytest

from service.cache import CachedAnswer, CacheScope
from tests.service.cache.conftest import CacheFactory, Metrics

SCOPE = CacheScope("public", "v1", "auto", "")


def answer(text: str, question: str = "q", prewarmed: bool = False) -> CachedAnswer:
    return CachedAnswer(question, text, "gpt-4o-mini", "fast", 10, 20, time.time(), prewarmed)


def test_tiers_hit_in_order(make_cache: CacheFactory, metrics: Metrics) -> None:
    cache = make_cache()
    assert cache.lookup("How do I reset my password?", SCOPE) is None
    cache.store("How do I reset my password?", SCOPE, answer("reset"))

    exact = cache.lookup("hi, how do i reset my password??", SCOPE)
    variation = cache.lookup("How can I reset my password?", SCOPE)
    semantic = cache.lookup("How do I reset my pasword?", SCOPE)
    assert exact and (exact.tier, exact.similarity, exact.entry.answer) == ("exact", 1.0, "reset")
    assert variation and variation.tier == "variation"
    assert semantic and semantic.tier == "semantic" and 0.45 <= semantic.similarity < 1.0
    assert cache.lookup("How do I reset my API key?", SCOPE) is None  # near-miss

    assert metrics.total("chat.cache.lookups", result="hit") == 3
    assert metrics.total("chat.cache.lookups", result="miss") == 2
    assert metrics.total("chat.cache.lookups", result="hit", tier="variation") == 1
    assert cache.describe()["entries"] == 1


@pytest.mark.parametrize("other", [
    CacheScope("tenant-b", "v1", "auto", ""),
    CacheScope("public", "v2", "auto", ""),
    CacheScope("public", "v1", "smart", ""),
])
def test_no_answer_crosses_a_scope(make_cache: CacheFactory, other: CacheScope) -> None:
    cache = make_cache()
    cache.store("How do I reset my password?", SCOPE, answer("reset"))
    assert cache.lookup("How do I reset my password?", other) is None
    assert cache.lookup("How can I reset my password?", other) is None


def test_follow_up_needs_its_own_conversation(make_cache: CacheFactory) -> None:
    cache = make_cache()
    history_digest = cache.analyzer.history_digest
    pro = history_digest([{"role": "user", "content": "How much does the Pro plan cost?"}])
    pro_rephrased = history_digest([{"role": "user", "content": "What's the price of Pro?"},
                                    {"role": "assistant", "content": "Pro is $20."}])
    refund = history_digest([{"role": "user", "content": "What is your refund policy?"}])
    cache.store("And for the Team plan?", CacheScope("public", "v1", "auto", pro),
                answer("team-price"))
    hit = cache.lookup("and for the team plan", CacheScope("public", "v1", "auto", pro_rephrased))
    assert hit is not None and hit.entry.answer == "team-price"
    other_conversation = CacheScope("public", "v1", "auto", refund)
    assert cache.lookup("And for the Team plan?", other_conversation) is None
    # a self-contained question is answered the same whatever came before
    cache.store("Is there a free trial for Pro?", SCOPE, answer("trial"))
    assert cache.lookup("Is there a free trial for Pro?",
                        CacheScope("public", "v1", "auto", refund)) is not None


def test_ttl_expires_entries(make_cache: CacheFactory) -> None:
    cache = make_cache(cache_ttl_seconds=1)
    cache.store("How do I contact support?", SCOPE, answer("contact"))
    assert cache.lookup("How do I contact support?", SCOPE) is not None
    time.sleep(1.3)
    assert cache.lookup("How do I contact support?", SCOPE) is None
    assert cache.lookup("How can I contact support?", SCOPE) is None


def test_size_bound_drops_least_recently_used(make_cache: CacheFactory) -> None:
    cache = make_cache(cache_max_entries=3)
    questions = [f"Does Nimbus integrate with Tool{i}?" for i in range(4)]
    for q in questions[:3]:
        cache.store(q, SCOPE, answer(q))
    assert cache.lookup(questions[0], SCOPE) is not None  # now the most recently used
    cache.store(questions[3], SCOPE, answer(questions[3]))
    assert cache.lookup(questions[1], SCOPE) is None
    assert all(cache.lookup(q, SCOPE) is not None for q in questions if q != questions[1])
    assert cache.describe()["entries"] == 3


def test_disabled_cache_never_hits(make_cache: CacheFactory) -> None:
    cache = make_cache(cache_enabled=False)
    cache.store("How do I contact support?", SCOPE, answer("contact"))
    assert cache.lookup("How do I contact support?", SCOPE) is None
    assert cache.describe()["status"] == "disabled"


@pytest.mark.parametrize("make_cache", ["redis"], indirect=True)
def test_redis_entries_are_shared_and_survive_a_restart(make_cache: CacheFactory) -> None:
    worker_a, worker_b = make_cache(), make_cache()
    worker_a.store("How do I set up webhooks?", SCOPE, answer("webhooks"))
    worker_b.lookup("warm up the index", SCOPE)
    hit = worker_b.lookup("How do I set up webhoks?", SCOPE)  # semantic: needs a's question
    assert hit is not None and hit.tier == "semantic" and hit.entry.answer == "webhooks"
    worker_a.close()
    restarted = make_cache()
    assert restarted.lookup("How can I configure webhooks?", SCOPE) is not None
    info = restarted.describe()
    assert info["status"] == "ok" and info["entries"] == 1 and info["bytes"] > 0


def test_prewarmed_entry_counts_used_once(make_cache: CacheFactory, metrics: Metrics) -> None:
    cache = make_cache()
    cache.store("Is there a free trial?", SCOPE, answer("trial", prewarmed=True))
    assert cache.lookup("Is there a free trial?", SCOPE) is not None
    assert cache.lookup("Do you offer a free trial?", SCOPE) is not None
    assert metrics.total("chat.cache.prewarm", outcome="used") == 1
