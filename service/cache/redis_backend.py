"""The Redis backend: one cache shared by every worker and process, surviving restarts.

Layout under the namespace ``ns``: ``ns:e:<scope>:<hash>`` a hash (payload, alias) with a TTL;
``ns:v:<scope>:<hash>`` a variation alias naming an entry key; ``<entry>:pw`` set while a
pre-warmed entry is unused; ``ns:lru`` a sorted set of entry keys by last use, trimmed on store
(the size bound); ``ns:log`` a capped stream of stored questions that each worker's semantic
index tails. Lookup and store are Lua scripts, so each is one round trip. Every call is time-boxed
by socket time-outs and never retried here: the circuit breaker decides when to try again.

On a Redis Cluster (``redis+cluster://``) the namespace must be a hash tag (``{chatperf}``, as
``ChatCache.from_settings`` writes it): the scripts touch the entry, its alias, the LRU set and
the log together, and a cluster runs a script only on keys of one slot. The whole cache then
lives on one master (docs/topology.md says why that is enough, and what a cluster still gives).
"""

from __future__ import annotations

import threading
import time
from typing import cast

from service.cache.backend import BackendError, Found, LogRecord
from service.redis_connect import REDIS_ERRORS, LazyRedis

__all__ = ["RedisBackend"]

_LOOKUP = """
local function hit(k, tier)
  local p = redis.call('HGET', k, 'p')
  if not p then return false end
  redis.call('ZADD', KEYS[3], 'XX', ARGV[1], k)
  return {tier, k, p, redis.call('DEL', k .. ':pw')}
end
local r = hit(KEYS[1], 'exact')
if r then return r end
if ARGV[2] == '1' then
  local target = redis.call('GET', KEYS[2])
  if target then return hit(target, 'variation') end
end
return false
"""

_STORE = """
local entry, lru, log = KEYS[1], KEYS[3], KEYS[4]
local alias = ARGV[9] == '1' and KEYS[2] or ''
local ttl, now, max = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('HSET', entry, 'p', ARGV[1], 'a', alias)
redis.call('PEXPIRE', entry, ttl)
if alias ~= '' then redis.call('SET', alias, entry, 'PX', ttl) end
if ARGV[5] == '1' then redis.call('SET', entry .. ':pw', '1', 'PX', ttl)
else redis.call('DEL', entry .. ':pw') end
redis.call('ZADD', lru, now, entry)
redis.call('XADD', log, 'MAXLEN', '~', ARGV[8], '*', 's', ARGV[6], 'k', entry, 'q', ARGV[7])
-- members unused for longer than the TTL have expired already
redis.call('ZREMRANGEBYSCORE', lru, '-inf', now - tonumber(ttl) / 1000)
local wasted = 0
local over = redis.call('ZCARD', lru) - max
if over > 0 then
  local victims = redis.call('ZPOPMIN', lru, over)
  for i = 1, #victims, 2 do
    local k = victims[i]
    local a = redis.call('HGET', k, 'a')
    if a and a ~= '' and redis.call('GET', a) == k then redis.call('DEL', a) end
    wasted = wasted + redis.call('DEL', k .. ':pw')
    redis.call('DEL', k)
  end
end
return wasted
"""

_TAIL_BATCH = 2_000
_TAIL_BATCHES = 5  # per call; a worker that starts late catches up over a few lookups
_BYTES_SAMPLE = 20


class RedisBackend:
    """The production backend: entries in Redis, shared by every worker and process, with TTL,
    an LRU size bound and time-boxed calls."""

    name = "redis"

    def __init__(self, url: str, namespace: str, ttl_seconds: float, max_entries: int,
                 timeout_ms: int) -> None:
        self._redis = LazyRedis(url, timeout_ms / 1000)
        if self._redis.cluster and not (namespace.startswith("{") and namespace.endswith("}")):
            raise ValueError(f"namespace {namespace!r}: a Redis Cluster needs a hash tag such as"
                             " '{chatperf}', so the cache's scripts see keys of one slot")
        self.namespace = namespace
        self._ttl_ms = int(ttl_seconds * 1000)
        self._max_entries = max_entries
        self._lru = f"{namespace}:lru"
        self._log = f"{namespace}:log"
        self._last_id = "-"
        self._tail_lock = threading.Lock()

    def get(self, exact_key: str, alias_key: str | None) -> Found | None:
        try:
            result = self._redis.run_script(_LOOKUP, [exact_key, alias_key or exact_key, self._lru],
                                            [time.time(), "1" if alias_key else "0"])
        except REDIS_ERRORS as exc:
            raise BackendError(f"redis lookup: {exc}") from exc
        if not result:
            return None
        tier, entry_key, payload, first = result
        return Found(tier, entry_key, payload, bool(first))

    def put(self, entry_key: str, alias_key: str | None, payload: str, prewarmed: bool,
            record: LogRecord) -> int:
        try:
            wasted = self._redis.run_script(
                _STORE, [entry_key, alias_key or entry_key, self._lru, self._log],
                [payload, self._ttl_ms, time.time(), self._max_entries, "1" if prewarmed else "0",
                 record.scope, record.question, self._max_entries * 2,
                 "1" if alias_key else "0"],
            )
        except REDIS_ERRORS as exc:
            raise BackendError(f"redis store: {exc}") from exc
        return int(wasted)

    def tail(self) -> list[LogRecord]:
        records: list[LogRecord] = []
        # One tailer at a time: two would read the same batch and move the cursor twice.
        with self._tail_lock:
            for _ in range(_TAIL_BATCHES):
                start = "-" if self._last_id == "-" else f"({self._last_id}"
                try:
                    # decode_responses=True: ids and fields arrive as str (redis-py types
                    # them as bytes | str | None whatever the option).
                    batch = cast(list[tuple[str, dict[str, str]]], self._redis.client().xrange(
                        self._log, min=start, count=_TAIL_BATCH))
                except REDIS_ERRORS as exc:
                    raise BackendError(f"redis tail: {exc}") from exc
                for stream_id, fields in batch:
                    records.append(LogRecord(fields["s"], fields["k"], fields["q"]))
                    self._last_id = stream_id
                if len(batch) < _TAIL_BATCH:
                    break
        return records

    def stats(self) -> tuple[int, int]:
        try:
            client = self._redis.client()
            entries = int(client.zcard(self._lru))
            sample = cast(list[str], client.zrandmember(self._lru, _BYTES_SAMPLE) or [])
            sizes = [client.memory_usage(key) or 0 for key in sample]
        except REDIS_ERRORS as exc:
            raise BackendError(f"redis stats: {exc}") from exc
        # Bytes are estimated from a sample: MEMORY USAGE on every key would block Redis.
        average = sum(sizes) / len(sizes) if sizes else 0
        return entries, int(average * entries)

    def ping(self) -> None:
        try:
            self._redis.ping(self._lru)
        except REDIS_ERRORS as exc:
            raise BackendError(f"redis ping: {exc}") from exc

    def close(self) -> None:
        self._redis.close()
