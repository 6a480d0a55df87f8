"""Issue 11, row 10: long unique questions cannot grow a worker's memory past its byte budgets.

2,000 unique 4,000-character questions once grew a worker by 158 MB: the question analyses were
bounded by count (65,536 of them, ~70 KB each for such a question) and so was the semantic index
(~495 KB per long entry). Both are now bounded in bytes. The test sends such questions to the
real service — looked up only on ``/api/chat/quick``, and answered (so cached and indexed) on
``/api/chat`` — and compares the worker's RSS growth with the configured budgets.
"""

from __future__ import annotations

import random

import httpx
import psutil
import pytest

from loadtests.processes import ManagedProcess

pytestmark = pytest.mark.integration

MB = 1 << 20
ANALYSIS_BYTES = 4 * MB
INDEX_BYTES = 4 * MB
# What the interpreter, allocator arenas and request handling may add for 2,000+ requests.
SLACK_BYTES = 24 * MB
LOOKED_UP = 800
ANSWERED = 60


_WORDS = ["".join(random.Random(n).choices("abcdefghijklmnoprstuvw", k=4 + n % 7))
          for n in range(5_000)]


def _long_question(rng: random.Random, i: int) -> str:
    """A unique ~4,000-character English-looking question: many distinct words and trigrams."""
    text = f"Question {i}: how do I " + " ".join(rng.choices(_WORDS, k=600))
    return text[:3_990] + "?"


def _worker_rss(service: ManagedProcess) -> int:
    workers = psutil.Process(service.pid).children(recursive=True)
    assert workers, "no worker process"
    return sum(p.memory_info().rss for p in workers)


def test_long_unique_questions_stay_within_the_byte_budgets(
    start_chat_service, simulator: ManagedProcess
) -> None:
    service = start_chat_service(
        simulator.url, CHAT_CACHE_ANALYSIS_BYTES=str(ANALYSIS_BYTES),
        CHAT_CACHE_INDEX_BYTES=str(INDEX_BYTES),
    )
    rng = random.Random(11)
    with httpx.Client(base_url=service.url, timeout=30) as client:
        for i in range(ANSWERED):
            response = client.post("/api/chat", json={"message": _long_question(rng, i)})
            assert response.status_code == 200, response.text
            if i == 9:  # the first requests load code and fill pools: measure from here
                before = _worker_rss(service)
        for i in range(LOOKED_UP):
            response = client.post("/api/chat/quick",
                                   json={"message": _long_question(rng, 10_000 + i)})
            assert response.status_code == 200 and response.json()["hit"] is False
        # the answered questions are still cached: bounding memory did not break the cache
        first = _long_question(random.Random(11), 0)
        assert client.post("/api/chat/quick", json={"message": first}).json()["hit"] is True
        stats = client.get("/api/cache/stats").json()
    grown = _worker_rss(service) - before
    stored = stats["bytes"] or 0  # the answers themselves, as the backend counts them
    bound = ANALYSIS_BYTES + INDEX_BYTES + 2 * stored + SLACK_BYTES
    assert grown <= bound, (
        f"worker grew {grown / MB:.1f} MB, budgets allow {bound / MB:.1f} MB"
        f" (analysis {ANALYSIS_BYTES / MB:.0f} + index {INDEX_BYTES / MB:.0f}"
        f" + answers {2 * stored / MB:.1f} + slack {SLACK_BYTES / MB:.0f})"
    )
