"""The ``local`` backend at 50,000 cached questions: CPU per lookup and index size (``make bench``).

The budgets per worker: embedding + search ≤ 1 ms of CPU per lookup (p50), in either operating
point, and ≤ 50 MB for the index. The lookup runs through the whole ``ChatCache`` (exact and
variation keys first, then the vector index), so the figure is what a request pays.
pytest-benchmark reports the distribution with ``--benchmark-enable``; the CPU time per lookup
(``time.thread_time`` of each round) goes into ``extra_info``. The index size is asserted: it is
a budget, not a speed.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Iterator

import pytest

from service.cache import Analyzer, CachedAnswer, CacheScope, ChatCache
from service.cache.backend import MemoryBackend
from service.cache.embeddings.local import LocalEmbedder
from service.cache.matching import operating_point
from service.cache.pack import ENGLISH

ENTRIES = 50_000
INDEX_BUDGET = 50 << 20
SCOPE = CacheScope("public", "v1", "auto", "")
TOOLS = [f"Tool{i}" for i in range(160)]
TEMPLATES = ("Can I sync {a} data into {b}?", "How do I send {a} alerts to {b}?")
_PAIRS = [t.format(a=a, b=b) for t in TEMPLATES for a in TOOLS for b in TOOLS if a != b]
QUESTIONS = [*_PAIRS[: ENTRIES - 2], "Do you have a mobile app?",
             "Do you offer a discount for nonprofits?"]
PROBES = {
    "semantic": "Do charities get a discount?",
    "miss": "Can I sync Tool1 data into Tool1000?",
}


@pytest.fixture(scope="module")
def full_cache(local_embedder: LocalEmbedder) -> Iterator[tuple[ChatCache, int]]:
    # A memo that holds every analysis: indexing then re-analyses nothing, so the fixture is
    # quicker and what tracemalloc sees below is the index alone.
    cache = ChatCache(MemoryBackend(3600, ENTRIES * 2), max_entries=ENTRIES * 2,
                      embedder=local_embedder, analyzer=Analyzer(memo_bytes=1 << 30))
    for question in QUESTIONS:
        cache.store(question, SCOPE, CachedAnswer(question, "a", "m", "fast", 1, 1, time.time()))
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    cache.lookup("warm the semantic index", SCOPE)  # indexes all 50,000 in one batch
    allocated = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    yield cache, allocated
    cache.close()


def test_index_fits_the_budget(full_cache: tuple[ChatCache, int]) -> None:
    cache, allocated = full_cache
    info = cache.describe()
    assert info["semantic_index"] == ENTRIES
    assert info["semantic_index_bytes"] <= INDEX_BUDGET
    # what Python really allocated while indexing
    assert allocated <= INDEX_BUDGET


def _cpu_lookup(cache: ChatCache, question: str, cpu: list[float]) -> object:
    started = time.thread_time()  # this thread's CPU: what the lookup costs, not the queue
    hit = cache.lookup(question, SCOPE)
    cpu.append(time.thread_time() - started)
    return hit


@pytest.mark.benchmark
@pytest.mark.parametrize("match", ["strict", "balanced"])
@pytest.mark.parametrize("probe", list(PROBES))
def test_local_lookup_cpu(benchmark, full_cache: tuple[ChatCache, int], probe: str,
                          match: str) -> None:
    cache, _ = full_cache
    benchmark.group = f"lookup-local-50k-{match}"
    embedder = cache.index.embedder
    strict_point = cache.index.point
    # One 50,000-question index for both operating points: building it is the slow part.
    cache.index.point = operating_point(match, "local", ENGLISH, embedder.threshold,
                                        embedder.word_threshold)
    cpu: list[float] = []
    try:
        hit = benchmark.pedantic(_cpu_lookup, args=(cache, PROBES[probe], cpu), rounds=500,
                                 warmup_rounds=20)
    finally:
        cache.index.point = strict_point
    cpu.sort()
    benchmark.extra_info["cpu_p50_ms"] = round(cpu[len(cpu) // 2] * 1000, 3)
    benchmark.extra_info["cpu_p90_ms"] = round(cpu[len(cpu) * 9 // 10] * 1000, 3)
    assert (hit.tier if hit else "miss") == probe
