"""Stats describe the whole service: every worker's requests, by model and by cache tier."""

from __future__ import annotations

import time

import httpx
import pytest

from loadtests.processes import ManagedProcess
from tests.support import stream_chat


def test_stats_count_every_request_across_two_workers(
    start_chat_service, simulator: ManagedProcess, redis_server: ManagedProcess
) -> None:
    service = start_chat_service(
        simulator.url, workers=2, REDIS_URL=f"redis://127.0.0.1:{redis_server.port}/0",
        CHAT_CACHE_NAMESPACE="stats-test",
    )
    questions = [
        "How much is Pro?", "Compare Pro and Team in detail", "How much is Pro?",
        "What are your office hours?", "How much is Pro?", "Compare Pro and Team in detail",
    ]
    for question in questions:
        # a fresh connection each time, so requests spread over both workers
        _, events = stream_chat(service.url, {"message": question})
        assert events[-1].event == "done"
    # Other workers' figures reach the stats within about a second (their snapshot interval).
    deadline = time.monotonic() + 10
    while True:
        upstream = httpx.get(f"{service.url}/api/openai/stats").json()
        if upstream["requests"] >= len(questions) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    cache = httpx.get(f"{service.url}/api/cache/stats").json()

    assert upstream["requests"] == len(questions)
    assert upstream["requests_by_outcome"] == {"ok": len(questions)}
    assert upstream["routing"]["by_tier"] == {"fast": 2, "smart": 1}
    assert upstream["models"]["gpt-4o-mini"]["ttft_s"]["count"] == 2
    assert upstream["models"]["gpt-4o"]["full_response_s"]["count"] == 1
    assert upstream["tokens"]["output"] > 0
    assert cache["backend"] == "redis"
    assert cache["lookups"] == len(questions)
    assert cache["hits"] == 3 and cache["hits_by_tier"] == {"exact": 3}
    assert cache["hit_rate"] == 0.5
    assert cache["entries"] >= 3


def test_a_percentile_of_one_answer_is_that_answer(start_chat_service,
                                                   simulator: ManagedProcess) -> None:
    """Interpolating inside a histogram bucket put the p95 of a single 0.3 s TTFT at 0.49 s,
    a value no request had; with one sample, every percentile is the sample."""
    service = start_chat_service(simulator.url)
    _, events = stream_chat(service.url, {"message": "How much is the Pro plan?"})
    ttft_s = events[-1].json()["timings"]["ttft_ms"] / 1000
    figures = httpx.get(f"{service.url}/api/openai/stats").json()["ttft_s"]
    assert figures["count"] == 1
    assert figures["p50"] == figures["p95"] == figures["mean"] == pytest.approx(ttft_s, abs=1e-3)
