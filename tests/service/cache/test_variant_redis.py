"""What only the Redis backend can get wrong about variants: its lookup script's draw against
``variants.pick``, and the keys variants leave behind (the conversations' markers, the set of
keys with variants) staying bounded and going with their entry. A real Redis, the session's."""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from loadtests.processes import ManagedProcess
from service.cache.backend import LogRecord
from service.cache.redis_backend import RedisBackend
from service.cache.variants import Draw, first_weight, pick

RECORD = LogRecord("s", "k", "q")


@pytest.fixture
def namespace() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def admin(redis_server: ManagedProcess) -> Iterator[redis.Redis]:
    client = redis.Redis("127.0.0.1", redis_server.port, decode_responses=True)
    yield client
    client.close()


def _backend(redis_server: ManagedProcess, namespace: str, ttl: float = 60,
             max_entries: int = 100) -> RedisBackend:
    return RedisBackend(f"redis://127.0.0.1:{redis_server.port}/0", namespace, ttl, max_entries,
                        500, variants=3, variant_after_hits=1)


def _with_variants(backend: RedisBackend, key: str, count: int = 3) -> None:
    backend.put(key, None, "a0", False, RECORD, "d0")
    for index in range(1, count):
        found = backend.get(key, None, Draw("", 1.0, 0.0))
        assert found is not None and found.due is not None
        assert backend.add_variant(key, found.due, f"a{index}", f"d{index}").added


def _keys(admin: redis.Redis, namespace: str) -> set[str]:
    return set(admin.scan_iter(f"{namespace}:*", count=1000))


def test_the_lookup_script_draws_as_pick(redis_server: ManagedProcess, namespace: str) -> None:
    backend = _backend(redis_server, namespace)
    key = f"{namespace}:e:s:x"
    _with_variants(backend, key)
    weights = [first_weight(t) for t in (0.0, 0.3, 1.0, 1.9)] + [1.0, math.exp(8)]
    rolls = [0.0, 0.05, 0.2, 0.35, 0.5, 0.57, 0.6, 0.75, 0.9, 0.999]
    for conversation in ("", "ada"):
        last: int | None = None
        for weight in weights:
            for roll in rolls:
                draw = Draw(conversation, weight, roll)
                found = backend.get(key, None, draw)
                assert found is not None
                expected = pick(3, last, draw)
                assert found.variant == expected, (conversation, weight, roll, last)
                assert found.payload == f"a{expected}"
                last = expected if conversation else None
    backend.close()


def test_conversation_markers_stay_bounded_and_go_with_their_entry(
        redis_server: ManagedProcess, namespace: str, admin: redis.Redis) -> None:
    backend = _backend(redis_server, namespace, max_entries=1)
    key = f"{namespace}:e:s:x"
    _with_variants(backend, key)
    before = _keys(admin, namespace)
    for session in range(600):  # a client sending a fresh session id with every request
        assert backend.get(key, None, Draw(f"s{session}", 1.0, 0.5)) is not None
    grown = _keys(admin, namespace) - before
    assert grown == {f"{key}:c"}  # one hash, not a key per conversation
    assert 0 < admin.hlen(f"{key}:c") <= 128
    assert 0 < admin.pttl(f"{key}:c") <= admin.pttl(key) + 100  # it expires with the entry
    backend.put(f"{namespace}:e:s:y", None, "other", False, RECORD, "d")  # evicts x (LRU of 1)
    assert not admin.exists(key) and not admin.exists(f"{key}:c")
    _with_variants(backend, key)
    backend.get(key, None, Draw("ada", 1.0, 0.5))
    backend.put(key, None, "stored again", False, RECORD, "d")  # a new first answer
    assert not admin.exists(f"{key}:c")
    backend.close()


def test_expired_entries_leave_the_set_of_keys_with_variants(
        redis_server: ManagedProcess, namespace: str, admin: redis.Redis) -> None:
    backend = _backend(redis_server, namespace, ttl=0.3)
    for name in ("x", "y"):
        _with_variants(backend, f"{namespace}:e:s:{name}", 2)
    assert admin.zcard(f"{namespace}:vk") == 2
    time.sleep(0.4)
    backend.put(f"{namespace}:e:s:z", None, "later", False, RECORD, "d")
    assert admin.zcard(f"{namespace}:vk") == 0
    assert backend.variant_keys() == 0
    backend.close()
