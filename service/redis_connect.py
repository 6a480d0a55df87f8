"""One meaning for ``REDIS_URL``: a single Redis server, or a Redis Cluster.

``redis://``, ``rediss://`` and ``unix://`` name one server (redis-py's own URL format).
``redis+cluster://host:port[,host:port…]`` names a Redis Cluster (``rediss+cluster://`` with TLS):
the nodes listed are where discovery starts, so list more than one; redis-py's ``RedisCluster``
then sends each command to the master that serves its key's hash slot and follows the cluster
when a replica takes over. A cluster has only database 0.

Every part of the service that talks to Redis (the cache, the rate limits, the shared single
flight) connects through ``connect``, so they agree on what the URL means, and none of them
retries on its own: each call is time-boxed, and the caller's circuit breaker decides when to
try again.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.commands.core import Script
from redis.exceptions import RedisClusterException
from redis.retry import Retry

__all__ = [
    "CLUSTER_SCHEMES",
    "REDIS_ERRORS",
    "LazyRedis",
    "RedisClient",
    "cluster_nodes",
    "hash_tagged",
    "is_cluster_url",
]

CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")

RedisClient = redis.Redis | RedisCluster

# What a failing or unreachable Redis raises: the cluster client's own errors (a slot with no
# live master, no node reachable) are not ``RedisError``s.
REDIS_ERRORS: tuple[type[BaseException], ...] = (redis.RedisError, RedisClusterException, OSError)


def is_cluster_url(url: str) -> bool:
    return urlsplit(url).scheme in CLUSTER_SCHEMES


def cluster_nodes(url: str) -> list[tuple[str, int]]:
    """The ``(host, port)`` seeds of a cluster URL; ``ValueError`` names what is wrong."""
    parts = urlsplit(url)
    if parts.scheme not in CLUSTER_SCHEMES:
        raise ValueError(f"not a cluster URL (use {' or '.join(CLUSTER_SCHEMES)}://)")
    if parts.path not in ("", "/", "/0"):
        raise ValueError("a Redis Cluster has only database 0")
    hosts = parts.netloc.rpartition("@")[2]
    nodes = []
    for seed in (part.strip() for part in hosts.split(",")):
        host, colon, port = seed.rpartition(":")
        if not colon or host.endswith(":") or seed.endswith("]"):  # no port: Redis's own
            host, port = seed, "6379"
        if not host.strip("[]") or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{seed!r} is not host[:port]")
        nodes.append((host.strip("[]"), int(port)))
    return nodes


def _credentials(url: str) -> dict[str, Any]:
    userinfo, at, _ = urlsplit(url).netloc.rpartition("@")
    if not at:
        return {}
    user, colon, password = userinfo.partition(":")
    if not colon:  # redis://secret@host: a password alone, as redis-py reads it
        return {"password": unquote(user)}
    return {"username": unquote(user) or None, "password": unquote(password)}


def _make_client(url: str, timeout_seconds: float, connect_timeout_seconds: float,
                 decode_responses: bool) -> RedisClient:
    options: dict[str, Any] = {
        "socket_timeout": timeout_seconds,
        "socket_connect_timeout": connect_timeout_seconds,
        "retry": Retry(NoBackoff(), 0),
        "decode_responses": decode_responses,
    }
    if not is_cluster_url(url):
        return redis.Redis.from_url(url, retry_on_timeout=False, **options)
    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in cluster_nodes(url)],
        ssl=urlsplit(url).scheme == "rediss+cluster",
        # While a master's slots wait for a replica, the other masters' slots still work.
        require_full_coverage=False,
        **_credentials(url), **options,
    )


class LazyRedis:
    """A Redis or Redis Cluster client for ``url``, made at first use.

    A cluster client learns the slot map when it is made, which needs a live node; made lazily,
    a service whose Redis is down at start still starts (and answers uncached), and the next
    call after Redis is back makes it. Every call is bounded by ``timeout_seconds`` and never
    retried; blocking reads (``XREAD BLOCK``, ``BLPOP``) need a time-out above their block, and
    then ``connect_timeout_seconds`` keeps connecting time-boxed as tightly as other calls.
    """

    def __init__(self, url: str, timeout_seconds: float,
                 connect_timeout_seconds: float | None = None,
                 decode_responses: bool = True) -> None:
        self.url = url
        self.cluster = is_cluster_url(url)
        if self.cluster:
            cluster_nodes(url)  # a malformed URL fails at start, not at the first call
        self._timeout = timeout_seconds
        self._connect_timeout = connect_timeout_seconds or timeout_seconds
        self._decode = decode_responses
        self._client: RedisClient | None = None
        self._scripts: dict[str, Script] = {}
        self._lock = threading.Lock()
        self._closed = False

    def client(self) -> RedisClient:
        """The client; raises one of ``REDIS_ERRORS`` while no node can be reached, or once
        closed (a closed cluster client would fail with an ``AttributeError``)."""
        client = self._client
        if client is None:
            with self._lock:
                if self._closed:
                    raise redis.ConnectionError("closed")
                if self._client is None:
                    self._client = _make_client(self.url, self._timeout,
                                                self._connect_timeout, self._decode)
                client = self._client
        return client

    def run_script(self, source: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """``EVALSHA`` of ``source`` (loaded on the first ``NOSCRIPT``), on the keys' server."""
        client = self.client()
        script = self._scripts.get(source)
        if script is None:
            script = self._scripts[source] = client.register_script(source)
        return script(keys=list(keys), args=list(args), client=client)

    def ping(self, key: str) -> None:
        """PING the server that holds ``key``: on a cluster, the master of its slot, not every
        node (one master down elsewhere must not fail a part whose keys live on another)."""
        client = self.client()
        if isinstance(client, RedisCluster):
            client.ping(target_nodes=client.get_node_from_key(key))
        else:
            client.ping()

    def read_stream(self, key: str, after: str, block_ms: int,
                    count: int = 500) -> list[tuple[str, dict[str, str]]]:
        """``XREAD BLOCK`` one stream: entries after ``after``, waiting up to ``block_ms``.

        On a cluster the command goes straight to the key's master: redis-py would otherwise ask
        a node for the keys of every ``XREAD`` (``COMMAND GETKEYS``), one more round trip.
        """
        client = self.client()
        args = ("XREAD", "COUNT", count, "BLOCK", block_ms, "STREAMS", key, after)
        if isinstance(client, RedisCluster):
            reply = client.execute_command(*args, target_nodes=client.get_node_from_key(key))
        else:
            reply = client.execute_command(*args)
        return list(reply[0][1]) if reply else []

    def close(self) -> None:
        with self._lock:
            self._closed = True
            client, self._client = self._client, None
        if client is not None:
            client.close()


def hash_tagged(namespace: str) -> str:
    """``{namespace}``: a Redis Cluster hash tag, so every key under it shares one slot and the
    cache's multi-key scripts run on one master."""
    return f"{{{namespace}}}"
