"""How many times a lookup asks Redis: with Redis across a network, each round trip before the
upstream is asked adds its latency to every new question's time to first token. A lookup that
misses brings the log of stored questions back with it; every record must still reach the
worker's semantic index, once, however many lookups miss together and however far behind it is.

The commands are counted as Redis receives them (``MONITOR``), on a server of this module's own
and on the session's cluster (the master that holds the cache's slot): a script's own commands
are not round trips and are left out.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis

from loadtests.processes import ManagedProcess, start_redis
from loadtests.redis_cluster import RedisClusterProcesses
from service.cache import Analyzer, CachedAnswer, CacheHit, CacheScope, ChatCache
from service.cache.backend import LogRecord
from service.cache.redis_backend import RedisBackend
from service.redis_connect import hash_tagged
from service.settings import Settings
from tests.service.cache.conftest import REFERENCE_PACK
from tests.support import require_binary

SCOPE = CacheScope("public", "v1", "auto", "")
_END = "round-trips-counted"


def _answer(text: str) -> CachedAnswer:
    return CachedAnswer("q", text, "gpt-4o-mini", "fast", 10, 20, time.time())


def commands_received(port: int, action: Callable[[], object]) -> list[str]:
    """The commands clients sent the server on ``port`` while ``action`` ran (a pipeline's
    commands would each count: this counts round trips only where none is used)."""
    watcher = redis.Redis("127.0.0.1", port, socket_timeout=5, decode_responses=True)
    admin = redis.Redis("127.0.0.1", port, socket_timeout=5, decode_responses=True)
    admin.ping()  # connected before, so that its marker is the one command it sends
    with watcher.monitor() as monitor:
        action()
        admin.echo(_END)
        seen: list[str] = []
        while (command := monitor.next_command())["command"] != f"ECHO {_END}":
            if command["client_type"] != "lua":
                seen.append(command["command"].split(" ", 1)[0].upper())
    admin.close()
    watcher.close()
    return seen


@pytest.fixture(scope="module")
def own_redis() -> Iterator[ManagedProcess]:
    """A server nothing else talks to, so every command it receives is the cache's."""
    require_binary("redis-server", "redis-server")
    proc = start_redis()
    yield proc
    proc.stop()


class Cache:
    """A worker's cache, and the port of the server that holds its keys."""

    def __init__(self, url: str, namespace: str, port: int) -> None:
        settings = Settings(redis_url=url, cache_namespace=namespace, cache_timeout_ms=500)
        self.cache = ChatCache.from_settings(settings)
        self.cache.analyzer = Analyzer(REFERENCE_PACK)
        self.port = port

    def asks(self, question: str) -> tuple[list[str], CacheHit | None]:
        """The commands a lookup of ``question`` sent, and what it found."""
        found: list[CacheHit | None] = []
        sent = commands_received(self.port, lambda: found.append(self.cache.lookup(question,
                                                                                   SCOPE)))
        return sent, found[0]


@pytest.fixture(params=["server", "cluster"])
def workers(request: pytest.FixtureRequest, own_redis: ManagedProcess) -> Iterator[
        Callable[[], Cache]]:
    """Caches on one fresh namespace, as a service's workers have them, on one Redis server or
    on the session's cluster."""
    namespace = f"t-{uuid.uuid4().hex[:8]}"
    url, port = f"redis://127.0.0.1:{own_redis.port}/0", own_redis.port
    if request.param == "cluster":
        cluster: RedisClusterProcesses = request.getfixturevalue("redis_cluster")
        url, port = cluster.url, cluster.slot_owner(hash_tagged(namespace))
    made: list[Cache] = []

    def make() -> Cache:
        made.append(Cache(url, namespace, port))
        return made[-1]

    yield make
    for worker in made:
        worker.cache.close()


def test_a_new_question_asks_redis_once_and_a_hit_at_most_twice(
        workers: Callable[[], Cache]) -> None:
    writer, reader = workers(), workers()
    reader.cache.lookup("Warm up: is there a mobile app?", SCOPE)  # the scripts are loaded
    writer.cache.store("How do I set up webhooks?", SCOPE, _answer("webhooks"))  # to tail

    sent, missed = reader.asks("How do I export invoices?")
    assert missed is None
    assert sent == ["EVALSHA"]  # the exact and variation tiers, and the stores to learn from

    sent, semantic = reader.asks("How do I set up webhoks?")
    assert semantic is not None and semantic.tier == "semantic"
    assert len(sent) == 2  # the question's own keys and the log, then the match's entry

    sent, exact = reader.asks("How do I set up webhooks?")
    assert exact is not None and exact.tier == "exact"
    assert sent == ["EVALSHA"]

    # With client history a lookup tries the conversation's own scope, then the shared one.
    own = CacheScope("public", "v1", "auto", "", conversation="c1")
    sent = commands_received(reader.port, lambda: reader.cache.lookup(
        "How do I rotate my API token?", (own, SCOPE)))
    assert sent == ["EVALSHA", "EVALSHA"]


def _backend(redis: ManagedProcess, namespace: str) -> RedisBackend:
    return RedisBackend(f"redis://127.0.0.1:{redis.port}/0", namespace, 60, 100_000, 2_000)


def test_a_worker_far_behind_learns_every_stored_question_once(own_redis: ManagedProcess) -> None:
    namespace = f"t-{uuid.uuid4().hex[:8]}"
    writer, late = _backend(own_redis, namespace), _backend(own_redis, namespace)
    for i in range(4_500):  # more than two of the lookup's batches
        writer.put(f"{namespace}:e:{i}", None, "a", False, LogRecord("s", f"e{i}", f"q{i}"))
    stored = late.lookup("nothing here", None, tail=True).stored
    assert [record.question for record in stored] == [f"q{i}" for i in range(4_500)]
    assert late.lookup("nothing here", None, tail=True).stored == []
    writer.put(f"{namespace}:e:new", None, "a", False, LogRecord("s", "new", "q-new"))
    assert late.lookup(f"{namespace}:e:0", None, tail=True).stored == []  # a hit tails nothing
    assert [r.question for r in late.lookup("nothing", None, tail=True).stored] == ["q-new"]
    writer.close()
    late.close()


def test_lookups_that_miss_together_hand_each_record_to_the_index_once(
        own_redis: ManagedProcess) -> None:
    namespace = f"t-{uuid.uuid4().hex[:8]}"
    writer, reader = _backend(own_redis, namespace), _backend(own_redis, namespace)
    learnt: list[str] = []
    done = threading.Event()

    def look() -> None:
        while not done.is_set():
            learnt.extend(r.question for r in reader.lookup("none", None, tail=True).stored)

    lookers = [threading.Thread(target=look) for _ in range(8)]
    for thread in lookers:
        thread.start()
    for i in range(500):
        writer.put(f"{namespace}:e:{i}", None, "a", False, LogRecord("s", f"e{i}", f"q{i}"))
    done.set()
    for thread in lookers:
        thread.join()
    learnt.extend(r.question for r in reader.lookup("none", None, tail=True).stored)
    assert sorted(learnt) == sorted(f"q{i}" for i in range(500))
    writer.close()
    reader.close()
