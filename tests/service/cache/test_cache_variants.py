"""Several answers per cached question, on both backends: when another is due, how a hit
chooses, what one conversation sees, scopes, byte bounds and the backend's count."""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
import tracemalloc
from collections import Counter

import pytest

from service.cache import CachedAnswer, CacheHit, CacheScope, ChatCache
from service.cache.backend import LogRecord, MemoryBackend
from service.cache.variants import Draw, first_weight, pick, skip_probability
from tests.service.cache.conftest import CacheFactory, Metrics, reference_analyzer

SCOPE = CacheScope("public", "v1", "auto", "")
QUESTION = "How do I reset my password?"


def answer(text: str) -> CachedAnswer:
    return CachedAnswer(QUESTION, text, "gpt-4o-mini", "fast", 10, 20, time.time())


def draw(conversation: str = "", temperature: float | None = None) -> Draw:
    return Draw.at(temperature, conversation)


def hit_until_due(cache: ChatCache, limit: int = 20) -> tuple[CacheHit, int]:
    for count in range(1, limit + 1):
        hit = cache.lookup(QUESTION, SCOPE, draw=draw())
        assert hit is not None
        if hit.due is not None:
            return hit, count
    raise AssertionError("no variant became due")


def with_variants(cache: ChatCache, *texts: str) -> None:
    for text in texts:
        hit, _ = hit_until_due(cache)
        assert cache.add_variant(hit, answer(text))


def test_another_answer_is_due_after_the_configured_hits(make_cache: CacheFactory) -> None:
    cache = make_cache(cache_variants=3, cache_variant_after_hits=2)
    cache.store(QUESTION, SCOPE, answer("first"))
    hit, hits = hit_until_due(cache)
    assert hits == 2 and hit.variants == 1
    # The claim is this caller's: another hit meanwhile does not claim the same generation.
    assert cache.lookup(QUESTION, SCOPE, draw=draw()).due is None  # type: ignore[union-attr]
    assert cache.add_variant(hit, answer("second"))
    hit, hits = hit_until_due(cache)
    assert hit.variants == 2 and hits == 1  # four hits in all: 2 for each answer held
    assert cache.add_variant(hit, answer("third"))
    served = {cache.lookup(QUESTION, SCOPE, draw=draw()).entry.answer  # type: ignore[union-attr]
              for _ in range(40)}
    assert served == {"first", "second", "third"}
    assert cache.describe()["variants"]["keys"] == 1
    for _ in range(10):  # full: nothing more is ever due
        assert cache.lookup(QUESTION, SCOPE, draw=draw()).due is None  # type: ignore[union-attr]


def test_one_conversation_never_reads_the_same_answer_twice_in_a_row(
        make_cache: CacheFactory) -> None:
    cache = make_cache(cache_variants=3, cache_variant_after_hits=1)
    cache.store(QUESTION, SCOPE, answer("first"))
    with_variants(cache, "second", "third")
    for conversation in ("alice", "bob"):
        seen = [cache.lookup(QUESTION, SCOPE, draw=draw(conversation)).variant  # type: ignore[union-attr]
                for _ in range(30)]
        assert all(a != b for a, b in itertools.pairwise(seen)), seen
        assert set(seen) == {0, 1, 2}


def test_temperature_zero_is_always_the_first_answer(make_cache: CacheFactory) -> None:
    cache = make_cache(cache_variants=2, cache_variant_after_hits=1)
    cache.store(QUESTION, SCOPE, answer("first"))
    with_variants(cache, "second")
    served = {cache.lookup(QUESTION, SCOPE, draw=draw("c", 0.0)).entry.answer  # type: ignore[union-attr]
              for _ in range(20)}
    assert served == {"first"}


def test_lookups_without_a_draw_serve_the_first_answer_and_count_nothing(
        make_cache: CacheFactory) -> None:
    cache = make_cache(cache_variants=2, cache_variant_after_hits=1)
    cache.store(QUESTION, SCOPE, answer("first"))
    with_variants(cache, "second")
    for _ in range(10):  # the quick check and pre-warm's ``contains`` look like this
        hit = cache.lookup(QUESTION, SCOPE, count=False, draw=draw())
        assert hit is not None and (hit.variant, hit.entry.answer, hit.due) == (0, "first", None)


def test_one_answer_per_key_is_todays_cache(make_cache: CacheFactory) -> None:
    cache = make_cache(cache_variants=1, cache_variant_after_hits=1)
    cache.store(QUESTION, SCOPE, answer("only"))
    for _ in range(10):
        hit = cache.lookup(QUESTION, SCOPE, draw=draw("c"))
        assert hit is not None and (hit.variant, hit.variants, hit.due) == (0, 1, None)


def test_a_variant_stays_in_its_scope_and_dies_with_a_new_store(make_cache: CacheFactory) -> None:
    cache = make_cache(cache_variants=2, cache_variant_after_hits=1)
    cache.store(QUESTION, SCOPE, answer("first"))
    with_variants(cache, "second")
    for other in (CacheScope("tenant-b", "v1", "auto", ""), CacheScope("public", "v2", "auto", ""),
                  CacheScope("public", "v1", "auto", "", conversation="abc")):
        assert cache.lookup(QUESTION, other, draw=draw()) is None
        cache.store(QUESTION, other, answer(f"own {other.key}"))
        served = {cache.lookup(QUESTION, other, draw=draw()).entry.answer  # type: ignore[union-attr]
                  for _ in range(10)}
        assert served == {f"own {other.key}"}
    cache.store(QUESTION, SCOPE, answer("restored"))  # a new first answer starts afresh
    hit = cache.lookup(QUESTION, SCOPE, draw=draw())
    assert hit is not None and (hit.variants, hit.entry.answer) == (1, "restored")


def test_a_stale_claim_or_a_repeated_answer_adds_nothing(make_cache: CacheFactory) -> None:
    cache = make_cache(cache_variants=3, cache_variant_after_hits=2)
    cache.store(QUESTION, SCOPE, answer("first"))
    hit, _ = hit_until_due(cache)
    assert not cache.add_variant(hit, answer("first"))  # the same text again
    # A try that brought nothing new waits as many hits again before the next.
    again, hits = hit_until_due(cache)
    assert hits == 2
    cache.store(QUESTION, SCOPE, answer("replaced"))
    assert not cache.add_variant(again, answer("for the old entry"))


def test_every_variant_counts_toward_the_byte_bound() -> None:
    backend = MemoryBackend(60, 1000, max_bytes=200_000, variants=3, variant_after_hits=1)
    record = LogRecord("s", "k", "q")
    backend.put("old", None, "x" * 20_000, False, record)
    backend.put("key", None, "y" * 1000, False, record)
    _, before = backend.stats()
    found = backend.get("key", None, draw())
    assert found is not None and found.due is not None
    assert backend.add_variant("key", found.due, "z" * 60_000, "d1").added
    _, after = backend.stats()
    assert after - before >= 60_000
    found = backend.get("key", None, draw())
    assert found is not None and found.due is not None
    assert backend.add_variant("key", found.due, "w" * 120_000, "d2").added  # over the bound
    assert backend.get("old", None) is None  # the least recently used entry made room
    assert backend.stats()[1] <= 200_000
    assert backend.variant_keys() == 1


def test_what_each_conversation_saw_last_stays_inside_the_byte_bound() -> None:
    """A client sending a fresh session id with every request leaves one marker per hit: the
    process must not hold more than the bound says, whatever ``stats`` reports."""
    bound = 300_000
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        backend = MemoryBackend(60, 1000, max_bytes=bound, variants=2, variant_after_hits=1)
        keys = [f"key{i}" for i in range(10)]
        for key in keys:
            backend.put(key, None, "first answer " * 20, False, LogRecord("s", key, "q"), "d0")
            found = backend.get(key, None, Draw("", 1.0, 0.0))
            assert found is not None and found.due is not None
            assert backend.add_variant(key, found.due, "second answer " * 20, "d1").added
        for session in range(20_000):
            backend.get(keys[session % len(keys)], None, Draw(f"session-{session:08d}", 1.0, 0.5))
        backend.tail()  # the log is the semantic index's to drain
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    entries, reported = backend.stats()
    assert reported <= bound and entries > 0
    assert held <= bound * 1.25, f"{held:,} bytes held, {reported:,} reported"


@pytest.mark.parametrize(("temperature", "skip"), [
    (None, 0.0), (0.0, 0.0), (0.5, 1 / (1 + math.e ** 2)), (1.0, 1 / (1 + math.e)),
    (2.0, 1.0),
])
def test_gptcache_skip_probability(temperature: float | None, skip: float) -> None:
    assert skip_probability(temperature) == pytest.approx(skip)


def test_the_draw_follows_the_softmax_and_flattens_as_temperature_rises() -> None:
    def share_of_first(temperature: float) -> float:
        rolls = [i / 1000 for i in range(1000)]
        chosen = Counter(pick(3, None, Draw("", first_weight(temperature), r)) for r in rolls)
        return chosen[0] / 1000

    assert share_of_first(1.0) == pytest.approx(math.e / (math.e + 2), abs=0.002)
    assert share_of_first(0.3) > share_of_first(1.0) > share_of_first(1.9) > 1 / 3
    assert pick(3, 0, Draw("c", first_weight(0.0), 0.5)) == 0  # T = 0: the first, always
    assert {pick(2, 1, Draw("c", 1.0, r / 10)) for r in range(10)} == {0}


def test_the_backend_s_byte_count_includes_every_variant(make_cache: CacheFactory) -> None:
    cache = make_cache(cache_variants=2, cache_variant_after_hits=1)
    cache.store(QUESTION, SCOPE, answer("first"))
    before = cache.describe()["bytes"]
    with_variants(cache, "second " * 5_000)
    assert cache.describe()["bytes"] - before >= 30_000  # Redis: MEMORY USAGE of the entry


def test_a_drawn_answer_too_long_for_max_tokens_falls_back_to_the_first(
        make_cache: CacheFactory) -> None:
    cache = make_cache(cache_variants=2, cache_variant_after_hits=1)
    cache.store(QUESTION, SCOPE, answer("first"))  # 20 output tokens
    hit, _ = hit_until_due(cache)
    assert cache.add_variant(hit, CachedAnswer(QUESTION, "long " * 200, "gpt-4o-mini", "fast",
                                               10, 200, time.time()))
    fits = lambda entry: entry.output_tokens <= 50  # noqa: E731 - a request's max_tokens
    served = [cache.lookup(QUESTION, SCOPE, accept=fits, draw=draw("c" if i % 2 else ""))
              for i in range(30)]
    assert all(hit is not None and (hit.entry.answer, hit.variant) == ("first", 0)
               for hit in served)
    assert {cache.lookup(QUESTION, SCOPE, draw=draw()).variants  # type: ignore[union-attr]
            for _ in range(5)} == {2}  # the key kept both answers


def test_a_pre_warmed_entry_evicted_unused_for_a_variant_counts_as_wasted(
        metrics: Metrics) -> None:
    backend = MemoryBackend(60, 1000, max_bytes=100_000, variants=2, variant_after_hits=1)
    cache = ChatCache(backend, instruments=metrics.instruments, analyzer=reference_analyzer(),
                      variants=2, variant_after_hits=1)
    cache.store("What does the Pro plan cost?", SCOPE, dataclasses.replace(
        answer("x" * 20_000), question="What does the Pro plan cost?", prewarmed=True))
    cache.store(QUESTION, SCOPE, answer("first"))
    hit, _ = hit_until_due(cache)
    assert cache.add_variant(hit, answer("y" * 85_000))  # room only without the pre-warmed
    assert metrics.total("chat.cache.prewarm", outcome="wasted") == 1
