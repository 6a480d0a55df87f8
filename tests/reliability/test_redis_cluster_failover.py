"""The service on a Redis Cluster whose cache master is killed mid-run: answers go on, uncached,
then cached again once a replica has taken over the slot."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from loadtests.processes import ManagedProcess
from loadtests.redis_cluster import RedisClusterProcesses, start_redis_cluster
from service.redis_connect import hash_tagged
from tests.support import require_binary, stream_chat

NAMESPACE = "failover"


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisClusterProcesses]:
    """This module's own cluster: the test kills one of its masters."""
    require_binary("redis-server", "redis-server")
    require_binary("redis-cli", "redis-server")
    with start_redis_cluster() as own:
        yield own


def _cache(answer: list) -> str:
    return answer[0].json()["cache"]


def _ask(service: ManagedProcess, question: str) -> list:
    response, events = stream_chat(service.url, {"message": question}, timeout=15)
    assert response.status_code == 200 and events[-1].event == "done", events[-1:]
    return events


def _ready_cache(service: ManagedProcess) -> str:
    return httpx.get(f"{service.url}/readyz", timeout=5).json()["checks"]["cache"]["status"]


def test_a_killed_cache_master_costs_hits_not_answers(
    cluster: RedisClusterProcesses, start_chat_service, simulator: ManagedProcess
) -> None:
    service = start_chat_service(
        simulator.url, REDIS_URL=cluster.url, CHAT_CACHE_NAMESPACE=NAMESPACE,
        CHAT_CACHE_BREAKER_SECONDS="0.3", CHAT_CACHE_TIMEOUT_MS="200",
    )
    before = "How do I rotate my API key?"
    assert _cache(_ask(service, before)) == "miss"
    assert _cache(_ask(service, before)) == "hit"

    # Questions keep arriving while the master that holds the cache's slot dies.
    outcomes: list[str] = []
    failures: list[BaseException] = []
    stop = threading.Event()

    def keep_asking() -> None:
        index = 0
        while not stop.is_set():
            try:
                outcomes.append(_cache(_ask(service, f"Question {index} during the failover?")))
            except BaseException as exc:  # reported by the test below
                failures.append(exc)
                return
            index += 1

    asker = threading.Thread(target=keep_asking)
    asker.start()
    try:
        time.sleep(0.5)
        cluster.kill(cluster.slot_owner(f"{hash_tagged(NAMESPACE)}:lru"))
        assert _cache(_ask(service, before)) == "miss"  # the slot has no master: uncached
        assert _ready_cache(service) == "degraded"
        cluster.wait_healthy()  # a replica took the slot over
        time.sleep(0.5)
    finally:
        stop.set()
        asker.join(timeout=30)
    assert not failures and not asker.is_alive()
    assert len(outcomes) >= 3  # answered before, during and after the failover

    # The replica had the entry: cached again, and new answers are stored as before.
    deadline = time.monotonic() + 10
    while _cache(_ask(service, before)) != "hit":
        assert time.monotonic() < deadline, "the cache did not come back after the failover"
        time.sleep(0.3)
    after = "Can I export invoices as CSV?"
    assert [_cache(_ask(service, after)) for _ in range(2)] == ["miss", "hit"]
    assert _ready_cache(service) == "ok"
