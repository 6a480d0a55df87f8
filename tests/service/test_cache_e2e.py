"""End to end: a rephrased question streams the cached answer; a near-miss goes upstream."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from loadtests.processes import ManagedProcess, start_service
from tests.support import service_env, stream_chat


def _answer(events: list) -> str:
    return "".join(event.json()["delta"] for event in events if event.event == "token")


@pytest.fixture(scope="module", params=["memory", "redis"])
def cached_service(request, simulator: ManagedProcess) -> Iterator[ManagedProcess]:
    env = {"CHAT_CACHE_NAMESPACE": "e2e"}
    if request.param == "redis":
        redis_server = request.getfixturevalue("redis_server")
        env["REDIS_URL"] = f"redis://127.0.0.1:{redis_server.port}/0"
    proc = start_service(service_env(simulator.url, **env))
    yield proc
    proc.stop()


def test_a_rephrased_question_streams_the_cached_answer(cached_service: ManagedProcess) -> None:
    _, original = stream_chat(cached_service.url, {"message": "How much does the Pro plan cost?"})
    _, rephrased = stream_chat(cached_service.url, {"message": "what's the price of the pro plan"})
    meta = rephrased[0].json()
    assert original[0].json()["cache"] == "miss"
    assert meta["cache"] == "hit" and meta["tier"] in ("variation", "semantic")
    assert 0 < meta["similarity"] <= 1
    assert _answer(rephrased) == _answer(original)
    names = [event.event for event in rephrased]
    assert names[0] == "meta" and names[-1] == "done" and names.count("token") > 1


@pytest.mark.parametrize("near_miss", [
    "What is in the Pro plan?",  # another intent about the same plan
    "How much does the Team plan cost?",  # another plan
    "How much does the Pro plan cost for 50 users?",  # a number that changes the answer
    "Why doesn't the Pro plan cost less?",  # not the same question at all
])
def test_a_near_miss_goes_upstream(cached_service: ManagedProcess, near_miss: str) -> None:
    stream_chat(cached_service.url, {"message": "How much does the Pro plan cost?"})
    _, events = stream_chat(cached_service.url, {"message": near_miss})
    assert events[0].json()["cache"] == "miss"
    assert events[-1].event == "done"


def test_a_hit_shows_in_the_cache_stats(cached_service: ManagedProcess) -> None:
    before = httpx.get(f"{cached_service.url}/api/cache/stats").json()
    for message in ("Do you offer an SLA?", "do you offer an SLA", "Do you offer an SLA?"):
        stream_chat(cached_service.url, {"message": message})
    after = httpx.get(f"{cached_service.url}/api/cache/stats").json()
    assert after["lookups"] - before["lookups"] == 3
    assert after["hits"] - before["hits"] == 2
    assert after["hits_by_tier"]["exact"] - before["hits_by_tier"].get("exact", 0) == 2
    assert after["hit_latency_ms"]["count"] - before["hit_latency_ms"]["count"] == 2
