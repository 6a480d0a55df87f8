"""A new question's cache work (issue 26): its analysis, missed lookup and store (``make bench``).

A miss is what every new question pays besides its tokens: the analyser reads it once (the memo
serves its later readings), the lookup tries the exact and variation keys and searches the
semantic index, which first takes in the questions stored since the last search, and the answer
is stored. The cache holds the reference workload's questions (its canonical ones, two
rephrasings of each and one-off questions: ~300, the index a worker has early in a day); the
questions asked are the workload's other rephrasings, near-misses and one-off questions that
miss. Each round asks one never-seen question; the store before it is what the next search takes
in, as in traffic. Runs once as a plain test under the default ``--benchmark-disable``.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator

import pytest

from loadtests.workload import PACK_FILE, Workload
from service.cache import Analyzer, CachedAnswer, CacheScope, ChatCache
from service.cache.backend import MemoryBackend
from service.cache.pack import load_pack

SCOPE = CacheScope("public", "v1", "auto", "")
PACK = load_pack(PACK_FILE)


def _questions() -> tuple[list[str], list[str]]:
    """(cached, asked): the workload's questions split as the module's docstring says."""
    workload = Workload.load()
    cached: list[str] = []
    asked: list[str] = []
    for item in workload.part("all"):
        cached += [item.question, *item.variations[:2]]
        asked += [*item.variations[2:], *(question for question, _ in item.near_misses)]
    tail = [q for part in sorted(workload.long_tail) for q in workload.long_tail[part]]
    return cached + tail[::2][:200], asked + tail[1::2][:400]


CACHED, ASKED = _questions()


def _answer(question: str) -> CachedAnswer:
    return CachedAnswer(question, "an answer", "m", "fast", 1, 1, 0.0)


def _filled() -> ChatCache:
    made = ChatCache(MemoryBackend(3600, 50_000), analyzer=Analyzer(PACK))
    for question in CACHED:
        made.store(question, SCOPE, _answer(question))
    made.lookup("warm the semantic index", SCOPE)
    return made


@pytest.fixture
def cache() -> Iterator[ChatCache]:
    made = _filled()
    yield made
    made.close()


@functools.cache
def _misses() -> tuple[str, ...]:
    """The asked questions the filled cache misses (asked of another cache: a probe would put
    them in the benchmarked cache's memo)."""
    probe = _filled()
    return tuple(q for q in ASKED if probe.lookup(q, SCOPE, count=False) is None)


@pytest.mark.benchmark(group="miss")
def test_analyse_new_question(benchmark) -> None:
    fresh = iter(ASKED)
    reader = Analyzer(PACK)

    def next_question() -> tuple[tuple[str], dict]:
        return (next(fresh),), {}

    rounds = min(len(ASKED), 300)
    analysis = benchmark.pedantic(reader.analyse, setup=next_question, rounds=rounds)
    assert analysis.source in ASKED


@pytest.mark.benchmark(group="miss")
def test_lookup_of_a_miss(benchmark, cache: ChatCache) -> None:
    misses = iter(_misses())
    asked: list[str] = []

    def next_question() -> tuple[tuple[str, CacheScope], dict]:
        if asked:  # the previous miss's answer: the index takes it in at this lookup
            cache.store(asked[-1], SCOPE, _answer(asked[-1]))
        asked.append(next(misses))
        return (asked[-1], SCOPE), {}

    hit = benchmark.pedantic(cache.lookup, setup=next_question, rounds=300)
    assert hit is None


@pytest.mark.benchmark(group="miss")
def test_store_after_a_miss(benchmark, cache: ChatCache) -> None:
    misses = itertools.cycle(_misses())

    def next_question() -> tuple[tuple[str, CacheScope, CachedAnswer], dict]:
        question = next(misses)
        cache.analyzer.analyse(question)  # as the missed lookup before the store read it
        return (question, SCOPE, _answer(question)), {}

    benchmark.pedantic(cache.store, setup=next_question, rounds=300)
    assert cache.describe()["entries"] >= len(CACHED)


def _look_alike(n: int) -> str:
    """A question as the overhead benchmark asks them: never repeated, all alike."""
    return (f"Benchmark run-{n} {n * 7919:012x}: how does plan {n} differ from plan {n + 7}"
            " in price per seat?")


@pytest.mark.benchmark(group="miss")
def test_lookup_of_a_miss_among_look_alikes(benchmark) -> None:
    """English only, 2,000 cached questions sharing most words: every search's candidates span
    the whole index, and each store touches the postings of its common words."""
    made = ChatCache(MemoryBackend(3600, 50_000))
    for n in range(2000):
        made.store(_look_alike(n), SCOPE, _answer(_look_alike(n)))
    numbers = itertools.count(2000)
    asked: list[str] = []

    def next_question() -> tuple[tuple[str, CacheScope], dict]:
        if asked:
            made.store(asked[-1], SCOPE, _answer(asked[-1]))
        asked.append(_look_alike(next(numbers)))
        return (asked[-1], SCOPE), {}

    hit = benchmark.pedantic(made.lookup, setup=next_question, rounds=300)
    assert hit is None
    made.close()
