"""The cache on a real Redis Cluster: the backend contract again, and its keys on one slot.

Every test of ``test_cache_backends.py`` runs here once more with ``REDIS_URL`` naming a
3-master cluster (``redis+cluster://``): the lookup and store scripts, the variation alias, the
LRU bound and the semantic index's sync stream all work only if every key they touch shares one
hash slot.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator

import pytest
import redis

from loadtests.redis_cluster import RedisClusterProcesses
from tests.service.cache import test_cache_backends as contract
from tests.service.cache import test_cache_variants as variants
from tests.service.cache.conftest import CacheFactory, Metrics, cache_factory

# The contract's tests, collected here against this module's ``make_cache``.
globals().update({name: test for name, test in vars(contract).items()
                  if name.startswith("test_")})
# and the variants' tests that run on a cache (several answers a key, in the entry's slot)
globals().update({name: test for name, test in vars(variants).items()
                  if name.startswith("test_")
                  and "make_cache" in inspect.signature(test).parameters})


@pytest.fixture
def make_cache(redis_cluster: RedisClusterProcesses, metrics: Metrics) -> Iterator[CacheFactory]:
    """Caches on the session's cluster, sharing a fresh namespace (as a service's workers do)."""
    yield from cache_factory(redis_cluster.url, metrics, timeout_ms=500)


def test_every_cache_key_lives_on_one_master(
    redis_cluster: RedisClusterProcesses, make_cache: CacheFactory
) -> None:
    cache = make_cache(cache_max_entries=2)
    scope = contract.SCOPE
    for question in ("How do I reset my password?", "How can I export my data?",
                     "Is there a mobile app?"):
        cache.store(question, scope, contract.answer(question, question, prewarmed=True))
        assert cache.lookup(question.replace("How do", "How can"), scope) is not None
    keys = [key for port in {node.port for node in redis_cluster.nodes if node.alive()}
            for key in redis.Redis("127.0.0.1", port, decode_responses=True).scan_iter(
                match=f"{cache.namespace}*")]
    owners = {redis_cluster.slot_owner(key) for key in keys}
    # entries, aliases, pre-warm flags, the LRU set and the log: one master holds them all
    assert len(keys) >= 6 and len(owners) == 1
    assert cache.describe()["entries"] == 2


def test_variant_keys_live_on_the_cache_s_master(
    redis_cluster: RedisClusterProcesses, make_cache: CacheFactory
) -> None:
    cache = make_cache(cache_variants=2, cache_variant_after_hits=1)
    cache.store(variants.QUESTION, variants.SCOPE, variants.answer("first"))
    variants.with_variants(cache, "second")
    assert cache.lookup(variants.QUESTION, variants.SCOPE, draw=variants.draw("c")) is not None
    keys = [key for port in {node.port for node in redis_cluster.nodes if node.alive()}
            for key in redis.Redis("127.0.0.1", port, decode_responses=True).scan_iter(
                match=f"{cache.namespace}*")]
    # the entries with variants, and the answer a conversation saw last, beside the entry
    assert any(key.endswith(":vk") for key in keys) and any(key.endswith(":c") for key in keys)
    assert len({redis_cluster.slot_owner(key) for key in keys}) == 1


def test_a_cluster_needs_the_hash_tagged_namespace(redis_cluster: RedisClusterProcesses) -> None:
    from service.cache.redis_backend import RedisBackend

    with pytest.raises(ValueError, match="hash tag"):
        RedisBackend(redis_cluster.url, "plain", 60, 10, 100)

