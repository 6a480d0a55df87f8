"""The Redis backend: one cache shared by every worker and process, surviving restarts.

Layout under the namespace ``ns``: ``ns:e:<scope>:<hash>`` a hash (payload, alias) with a TTL;
``ns:v:<scope>:<hash>`` a variation alias naming an entry key; ``<entry>:pw`` set while a
pre-warmed entry is unused; ``ns:lru`` a sorted set of entry keys by last use, trimmed on store
(the size bound); ``ns:log`` a capped stream of stored questions that each worker's semantic
index tails. Variants (``variants.py``) live in the entry's hash: ``p`` is the first answer,
``v1``… the others, ``n`` their count, ``d0``… their texts' digests, ``h`` the counted hits,
``r`` the tries that added nothing and ``t`` the store's identity; ``<entry>:vg`` claims the
next variant's generation, ``<entry>:c`` a hash of the variant each conversation saw last
(expiring with the entry, deleted with it, and emptied when it would hold more than
``CONVERSATIONS_PER_ENTRY``: a client sending a fresh session id per request costs at most
that many small fields per entry with variants), and ``ns:vk`` a sorted set of entries with
variants by expiry. Lookup and store are Lua scripts, so each is one round trip; a lookup
that finds nothing also returns the log after this worker's cursor, so a new question costs one
round trip before the upstream is asked, and a semantic hit two. Every call is
time-boxed by socket time-outs and never retried here: the circuit breaker decides when to try
again.

On a Redis Cluster (``redis+cluster://``) the namespace must be a hash tag (``{chatperf}``, as
``ChatCache.from_settings`` writes it): the scripts touch the entry, its alias, the LRU set and
the log together, and a cluster runs a script only on keys of one slot. The whole cache then
lives on one master (docs/topology.md says why that is enough, and what a cluster still gives).
"""

from __future__ import annotations

import threading
import time
from typing import cast

from service.cache.backend import (
    CONVERSATIONS_PER_ENTRY,
    VARIANT_LEASE_SECONDS,
    BackendError,
    Found,
    LogRecord,
    Lookup,
    VariantAdded,
)
from service.cache.variants import Draw
from service.redis_connect import REDIS_ERRORS, LazyRedis

__all__ = ["RedisBackend"]

# Returns {hit} ({tier, key, payload, first pre-warm use, variant, variants, due} or nil) and,
# when nothing was found and ARGV[3] is an XRANGE start, the next ARGV[4] records of the log
# (KEYS[4]): the semantic index learns in the round trip that missed. ARGV[5] = '1': a counted
# hit that draws a variant (ARGV[6] conversation, ARGV[7] the first's weight, '0' for the first
# always, ARGV[8] the roll), the rule of ``variants.pick``; ARGV[9] the answers a key may hold,
# ARGV[10] hits per answer before the next, ARGV[11] the claim's lease in ms, ARGV[12] the
# conversations an entry remembers.
_LOOKUP = """
local function draw(n, last)
  if ARGV[7] == '0' then return 0 end
  local w0, total = tonumber(ARGV[7]), 0
  for i = 0, n - 1 do if i ~= last then total = total + (i == 0 and w0 or 1) end end
  local target, chosen = tonumber(ARGV[8]) * total, 0
  for i = 0, n - 1 do
    if i ~= last then
      chosen = i
      target = target - (i == 0 and w0 or 1)
      if target < 0 then return chosen end
    end
  end
  return chosen
end
local function hit(k, tier)
  local p = redis.call('HGET', k, 'p')
  if not p then return false end
  redis.call('ZADD', KEYS[3], 'XX', ARGV[1], k)
  local first = redis.call('DEL', k .. ':pw')
  if ARGV[5] ~= '1' then return {tier, k, p, first, 0, 1, false} end
  local n = tonumber(redis.call('HGET', k, 'n') or '1')
  local due = false
  if n < tonumber(ARGV[9]) then  -- a full entry counts no more hits
    local hits = redis.call('HINCRBY', k, 'h', 1)
    local tries = tonumber(redis.call('HGET', k, 'r') or '0')
    local stamp = redis.call('HGET', k, 't')
    if stamp and hits >= tonumber(ARGV[10]) * (n + tries)
        and redis.call('SET', k .. ':vg', '1', 'NX', 'PX', ARGV[11]) then
      due = stamp
    end
  end
  local chosen = 0
  if n > 1 then
    local seen, who = k .. ':c', ARGV[6]
    local last = who ~= '' and tonumber(redis.call('HGET', seen, who) or '-1') or -1
    chosen = draw(n, last)
    if who ~= '' then
      if redis.call('HSET', seen, who, chosen) == 1
          and redis.call('HLEN', seen) > tonumber(ARGV[12]) then
        redis.call('DEL', seen)  -- the bound: every conversation starts afresh
        redis.call('HSET', seen, who, chosen)
      end
      local left = redis.call('PTTL', k)
      if left > 0 then redis.call('PEXPIRE', seen, left) end
    end
    if chosen > 0 then p = redis.call('HGET', k, 'v' .. chosen) or p end
  end
  return {tier, k, p, first, chosen, n, due}
end
local r = hit(KEYS[1], 'exact')
if not r and ARGV[2] == '1' then
  local target = redis.call('GET', KEYS[2])
  if target then r = hit(target, 'variation') end
end
if r or ARGV[3] == '' then return {r} end
return {false, redis.call('XRANGE', KEYS[4], ARGV[3], '+', 'COUNT', ARGV[4])}
"""

_STORE = """
local entry, lru, log, varied = KEYS[1], KEYS[3], KEYS[4], KEYS[5]
local alias = ARGV[9] == '1' and KEYS[2] or ''
local ttl, now, max = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('DEL', entry, entry .. ':vg', entry .. ':c')
redis.call('ZREM', varied, entry)
redis.call('HSET', entry, 'p', ARGV[1], 'a', alias, 'd0', ARGV[10], 't', ARGV[3])
redis.call('PEXPIRE', entry, ttl)
if alias ~= '' then redis.call('SET', alias, entry, 'PX', ttl) end
if ARGV[5] == '1' then redis.call('SET', entry .. ':pw', '1', 'PX', ttl)
else redis.call('DEL', entry .. ':pw') end
redis.call('ZADD', lru, now, entry)
redis.call('XADD', log, 'MAXLEN', '~', ARGV[8], '*', 's', ARGV[6], 'k', entry, 'q', ARGV[7])
-- members unused for longer than the TTL have expired already; so have those of the keys
-- with variants whose expiry is past
redis.call('ZREMRANGEBYSCORE', lru, '-inf', now - tonumber(ttl) / 1000)
redis.call('ZREMRANGEBYSCORE', varied, '-inf', now)
local wasted = 0
local over = redis.call('ZCARD', lru) - max
if over > 0 then
  local victims = redis.call('ZPOPMIN', lru, over)
  for i = 1, #victims, 2 do
    local k = victims[i]
    local a = redis.call('HGET', k, 'a')
    if a and a ~= '' and redis.call('GET', a) == k then redis.call('DEL', a) end
    wasted = wasted + redis.call('DEL', k .. ':pw')
    redis.call('DEL', k, k .. ':vg', k .. ':c')
    redis.call('ZREM', varied, k)
  end
end
return wasted
"""

_ADD_VARIANT = """
local k, varied = KEYS[1], KEYS[2]
if redis.call('HGET', k, 't') ~= ARGV[1] then return 0 end
redis.call('DEL', k .. ':vg')
local function tried()
  if ARGV[6] == '1' then redis.call('HINCRBY', k, 'r', 1) end
  return 0
end
if ARGV[2] == '' then return tried() end
local n = tonumber(redis.call('HGET', k, 'n') or '1')
if n >= tonumber(ARGV[4]) then return tried() end
for i = 0, n - 1 do
  if redis.call('HGET', k, 'd' .. i) == ARGV[3] then return tried() end
end
redis.call('HSET', k, 'v' .. n, ARGV[2], 'd' .. n, ARGV[3], 'n', n + 1)
redis.call('ZADD', varied, tonumber(ARGV[5]) + redis.call('PTTL', k) / 1000, k)
return 1
"""

_TAIL_BATCH = 2_000
_TAIL_BATCHES = 5  # per call; a worker that starts late catches up over a few lookups
_BYTES_SAMPLE = 20

_StreamEntry = tuple[str, dict[str, str]]  # a log record as XRANGE returns it: id, fields


_BEFORE_THE_FIRST = (-1, -1)  # the cursor of a worker that has read no record yet


def _position(stream_id: str) -> tuple[int, int]:
    """A stream id (``<millis>-<sequence>``) as a comparable pair."""
    millis, _, sequence = stream_id.partition("-")
    return int(millis), int(sequence)


class RedisBackend:
    """The production backend: entries in Redis, shared by every worker and process, with TTL,
    an LRU size bound and time-boxed calls."""

    name = "redis"

    def __init__(self, url: str, namespace: str, ttl_seconds: float, max_entries: int,
                 timeout_ms: int, variants: int = 1, variant_after_hits: int = 3) -> None:
        self._redis = LazyRedis(url, timeout_ms / 1000)
        if self._redis.cluster and not (namespace.startswith("{") and namespace.endswith("}")):
            raise ValueError(f"namespace {namespace!r}: a Redis Cluster needs a hash tag such as"
                             " '{chatperf}', so the cache's scripts see keys of one slot")
        self.namespace = namespace
        self._ttl_ms = int(ttl_seconds * 1000)
        self._max_entries = max_entries
        self._lru = f"{namespace}:lru"
        self._log = f"{namespace}:log"
        self._varied = f"{namespace}:vk"
        self._variants = variants
        self._variant_after_hits = variant_after_hits
        self._cursor = _BEFORE_THE_FIRST  # every record up to it went to the index
        self._tail_lock = threading.Lock()
        self._tailing = False  # a lookup's reply with the log's tail is on its way

    def get(self, exact_key: str, alias_key: str | None,
            draw: Draw | None = None) -> Found | None:
        return self._look(exact_key, alias_key, draw, "")[0]

    def lookup(self, exact_key: str, alias_key: str | None, draw: Draw | None = None,
               tail: bool = False) -> Lookup:
        if not tail:
            return Lookup(self.get(exact_key, alias_key, draw), [])
        # One tail in flight per worker: lookups that miss meanwhile search the index as it is,
        # rather than each reading (and parsing) the same records, up to a batch of them on a
        # worker that is behind.
        with self._tail_lock:
            start = "" if self._tailing else self._tail_start()
            self._tailing = self._tailing or bool(start)
        try:
            found, batch = self._look(exact_key, alias_key, draw, start)
            if found is not None or not start:
                return Lookup(found, [])
            stored = self._take(batch)
        finally:
            if start:
                self._tailing = False
        if len(batch) == _TAIL_BATCH:  # behind (a worker that starts late): catch up as tail()
            stored += self.tail(_TAIL_BATCHES - 1)
        return Lookup(None, stored)

    def _look(self, exact_key: str, alias_key: str | None, draw: Draw | None,
              tail_start: str) -> tuple[Found | None, list[_StreamEntry]]:
        """The lookup script: what the keys lead to, else the log from ``tail_start``."""
        args: list[object] = [time.time(), "1" if alias_key else "0", tail_start, _TAIL_BATCH]
        if draw is not None:
            # A draw that may not claim is as for a full entry: nothing counted or claimed.
            args += ["1", draw.conversation, "0" if draw.first_only else repr(draw.weight),
                     repr(draw.roll), self._variants if draw.claim else 0, self._variant_after_hits,
                     int(VARIANT_LEASE_SECONDS * 1000), CONVERSATIONS_PER_ENTRY]
        try:
            reply = self._redis.run_script(
                _LOOKUP, [exact_key, alias_key or exact_key, self._lru, self._log], args)
        except REDIS_ERRORS as exc:
            raise BackendError(f"redis lookup: {exc}") from exc
        if reply[0] is None:
            rows = reply[1] if len(reply) > 1 else []
            return None, [(row[0], dict(zip(row[1][::2], row[1][1::2], strict=True)))
                          for row in rows]
        tier, entry_key, payload, first, variant, variants, due = reply[0]
        return Found(tier, entry_key, payload, bool(first), int(variant), int(variants),
                     due if isinstance(due, str) else None), []

    def add_variant(self, entry_key: str, due: str, payload: str | None, digest: str,
                    tried: bool = True) -> VariantAdded:
        try:
            added = self._redis.run_script(
                _ADD_VARIANT, [entry_key, self._varied],
                [due, payload or "", digest, self._variants, time.time(), "1" if tried else "0"])
        except REDIS_ERRORS as exc:
            raise BackendError(f"redis variant: {exc}") from exc
        return VariantAdded(bool(added))  # an entry grows in place: nothing is evicted

    def variant_keys(self) -> int:
        try:
            return int(self._redis.client().zcount(self._varied, time.time(), "+inf"))
        except REDIS_ERRORS as exc:
            raise BackendError(f"redis stats: {exc}") from exc

    def put(self, entry_key: str, alias_key: str | None, payload: str, prewarmed: bool,
            record: LogRecord, digest: str = "") -> int:
        try:
            wasted = self._redis.run_script(
                _STORE, [entry_key, alias_key or entry_key, self._lru, self._log, self._varied],
                [payload, self._ttl_ms, time.time(), self._max_entries, "1" if prewarmed else "0",
                 record.scope, record.question, self._max_entries * 2,
                 "1" if alias_key else "0", digest],
            )
        except REDIS_ERRORS as exc:
            raise BackendError(f"redis store: {exc}") from exc
        return int(wasted)

    def tail(self, batches: int = _TAIL_BATCHES) -> list[LogRecord]:
        records: list[LogRecord] = []
        # One tailer at a time here: two would read the same batches.
        with self._tail_lock:
            for _ in range(batches):
                try:
                    # decode_responses=True: ids and fields arrive as str (redis-py types
                    # them as bytes | str | None whatever the option).
                    batch = cast(list[_StreamEntry], self._redis.client().xrange(
                        self._log, min=self._tail_start(), count=_TAIL_BATCH))
                except REDIS_ERRORS as exc:
                    raise BackendError(f"redis tail: {exc}") from exc
                records += self._advance(batch)
                if len(batch) < _TAIL_BATCH:
                    break
        return records

    def _tail_start(self) -> str:
        if self._cursor == _BEFORE_THE_FIRST:
            return "-"
        return "({}-{}".format(*self._cursor)

    def _take(self, batch: list[_StreamEntry]) -> list[LogRecord]:
        """The records of a batch a lookup read after the cursor as it was when it was sent: a
        catch-up (``tail``) may have read some of them meanwhile, and each record goes to the
        semantic index once, to whichever reply is taken first."""
        with self._tail_lock:
            return self._advance(batch)

    def _advance(self, batch: list[_StreamEntry]) -> list[LogRecord]:
        """The records of ``batch`` past the cursor, which moves to the batch's end (the
        caller holds ``_tail_lock``). A batch starts at or before the cursor, so none is
        skipped."""
        records = []
        for stream_id, fields in batch:
            position = _position(stream_id)
            if position > self._cursor:
                records.append(LogRecord(fields["s"], fields["k"], fields["q"]))
                self._cursor = position
        return records

    def stats(self) -> tuple[int, int]:
        try:
            client = self._redis.client()
            entries = int(client.zcard(self._lru))
            sample = cast(list[str], client.zrandmember(self._lru, _BYTES_SAMPLE) or [])
            # An entry's bytes include the variants its conversations saw last. SAMPLES 0: every
            # field (by default Redis averages five, and misses a long variant now and then).
            sizes = [(client.memory_usage(key, samples=0) or 0)
                     + (client.memory_usage(f"{key}:c", samples=0) or 0) for key in sample]
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
