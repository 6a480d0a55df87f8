"""What ``REDIS_URL`` may say: one server, or a Redis Cluster (``redis+cluster://``)."""

from __future__ import annotations

import pytest

from loadtests.processes import free_port
from service.cache import CacheScope, ChatCache
from service.redis_connect import REDIS_ERRORS, LazyRedis, cluster_nodes, is_cluster_url
from service.settings import Settings, SettingsError


@pytest.mark.parametrize(("url", "nodes"), [
    ("redis+cluster://10.0.0.1:7000,10.0.0.2:7001", [("10.0.0.1", 7000), ("10.0.0.2", 7001)]),
    ("rediss+cluster://user:secret@redis-a:6380/0", [("redis-a", 6380)]),
    ("redis+cluster://redis-a, redis-b:7000", [("redis-a", 6379), ("redis-b", 7000)]),
    ("redis+cluster://[::1]:7000,[::1]", [("::1", 7000), ("::1", 6379)]),
])
def test_a_cluster_url_lists_its_seed_nodes(url: str, nodes: list[tuple[str, int]]) -> None:
    assert is_cluster_url(url)
    assert cluster_nodes(url) == nodes
    assert Settings.from_env({"REDIS_URL": url}).redis_url == url


@pytest.mark.parametrize(("url", "problem"), [
    ("redis+cluster://redis-a:7000/2", "only database 0"),
    ("redis+cluster://redis-a:http", "host"),
    ("redis+cluster://redis-a:7000,", "host"),
    ("memcached://redis-a:7000", "redis/rediss/unix/redis[+]cluster"),
])
def test_a_bad_redis_url_is_refused_at_start(url: str, problem: str) -> None:
    with pytest.raises(SettingsError, match=f"REDIS_URL.*{problem}"):
        Settings.from_env({"REDIS_URL": url})


def test_a_single_server_url_is_not_a_cluster() -> None:
    assert not is_cluster_url("redis://127.0.0.1:6379/0")
    assert not is_cluster_url("unix:///run/redis.sock")


@pytest.mark.parametrize("namespace", ["{chatperf}", "chat{perf"])
def test_the_namespace_takes_no_braces(namespace: str) -> None:
    # The service wraps it in braces itself: the cluster hash tag.
    with pytest.raises(SettingsError, match="CHAT_CACHE_NAMESPACE"):
        Settings.from_env({"CHAT_CACHE_NAMESPACE": namespace})


def test_a_cluster_down_at_start_degrades_the_cache_instead_of_failing() -> None:
    url = f"redis+cluster://127.0.0.1:{free_port()}"
    link = LazyRedis(url, 0.2)
    with pytest.raises(REDIS_ERRORS):
        link.client()
    cache = ChatCache.from_settings(Settings(redis_url=url, cache_timeout_ms=200))
    assert cache.lookup("Is there a free trial?", CacheScope()) is None
    assert cache.describe()["status"] == "degraded"
    cache.close()
