"""Where cached answers live: the interface both backends keep, and the in-memory backend.

The cache logic (``cache.py``) only talks to this small interface, so the same tests run
against memory and Redis. Entries are JSON payloads under an entry key; a variation key is an
alias that points at an entry; every store is also appended to a log that semantic indexes tail,
so a worker can find questions another worker cached. An entry may hold several answers to its
question (variants, ``variants.py``): the first is stored by ``put``, the others appended by
``add_variant`` after the entry's hits made one due; they live and die with the entry.

The in-memory backend is bounded in bytes as well as entries (``CHAT_CACHE_MEMORY_BYTES``): long
answers weigh more than short ones. Its log is drained by the semantic index, which only looks
when a question it can match is asked; traffic of long or non-Latin questions never drains it,
so the log keeps at most an eighth of that budget, oldest records dropped first (the index would
not have matched those questions anyway, or has room for fewer). Every variant's bytes count
toward the bound, and so does which variant each conversation saw last: kept in the entry
(evicted and replaced with it), at most ``CONVERSATIONS_PER_ENTRY`` conversations an entry, past
which its conversations start afresh, as in the Redis backend.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from service.cache.variants import Draw, pick

__all__ = ["CONVERSATIONS_PER_ENTRY", "VARIANT_LEASE_SECONDS", "Backend", "BackendError",
           "Found", "LogRecord", "Lookup", "MemoryBackend", "VariantAdded"]

# How long a claimed variant generation keeps others from claiming the same entry's.
VARIANT_LEASE_SECONDS = 60.0
# Conversations an entry remembers the last variant of; past it, they all start afresh (the
# bound against a client that sends a fresh session id with every request). 128 keeps Redis's
# hash of them in its compact listpack encoding (hash-max-listpack-entries), ~4 KB at most.
CONVERSATIONS_PER_ENTRY = 128


class BackendError(RuntimeError):
    """Raised when the backend failed or was too slow; the cache then answers uncached."""


@dataclass(frozen=True)
class Found:
    """A stored entry a key led to."""

    tier: str  # "exact" or "variation": which key found it
    entry_key: str
    payload: str
    first_prewarm_use: bool  # a pre-warmed entry hit for the first time
    variant: int = 0  # which of the entry's answers ``payload`` is
    variants: int = 1  # how many the entry holds
    # Set when this hit made another variant due and claimed its generation: the entry's
    # identity, handed back to ``add_variant`` (with the answer, or None to give the claim up).
    due: str | None = None
    # Unused pre-warmed entries the size bound evicted to make room for what this hit noted.
    wasted: int = 0


class VariantAdded(NamedTuple):
    """What ``add_variant`` did: whether the answer was added, and how many unused pre-warmed
    entries the size bound evicted to make room for it (counted as pre-warm's waste)."""

    added: bool
    wasted: int = 0


@dataclass(frozen=True)
class LogRecord:
    """One stored question, as the semantic index learns of it."""

    scope: str
    entry_key: str
    question: str


class Lookup(NamedTuple):
    """What ``Backend.lookup`` found: the entry a key led to, else (when asked for) the stores
    since the previous tail, for the semantic index to learn before it searches."""

    found: Found | None
    stored: list[LogRecord]


class Backend(Protocol):
    """What the cache needs from storage. Every method may raise ``BackendError``."""

    name: str

    def get(self, exact_key: str, alias_key: str | None,
            draw: Draw | None = None) -> Found | None:
        """The entry a key leads to; with ``draw``, one of its variants chosen by it, and the
        hit counted toward the next variant. Without, the first answer, nothing counted."""
        ...
    def lookup(self, exact_key: str, alias_key: str | None, draw: Draw | None = None,
               tail: bool = False) -> Lookup:
        """``get``, and when it finds nothing and ``tail`` is set, ``tail`` as well: on Redis
        in one round trip, which a new question pays before the upstream is asked."""
        ...
    def put(self, entry_key: str, alias_key: str | None, payload: str, prewarmed: bool,
            record: LogRecord, digest: str = "") -> int:
        """Store (``digest``: of the answer's text); returns how many unused pre-warmed
        entries the size bound evicted. A stored entry starts again with one answer."""
        ...
    def add_variant(self, entry_key: str, due: str, payload: str | None, digest: str,
                    tried: bool = True) -> VariantAdded:
        """Append an answer to the entry a ``Found.due`` named, unless the entry changed or
        went, is full, or has that text (``digest``) already; None only gives the claim up.
        A try that added nothing (``tried``) puts the next one ``variant_after_hits`` further."""
        ...
    def variant_keys(self) -> int:
        """How many live entries hold more than one answer."""
        ...
    def tail(self) -> list[LogRecord]:
        """Stores since the previous tail (this process's and every other one's)."""
        ...
    def stats(self) -> tuple[int, int]:
        """(entries, bytes) as the backend counts them."""
        ...
    def ping(self) -> None: ...
    def close(self) -> None: ...


@dataclass
class _Entry:
    payload: str
    alias_key: str | None
    expires_at: float
    prewarm_unused: bool
    size: int  # estimated bytes held: every variant's payload, keys, the entry and its slots
    generation: str = ""
    digests: list[str] = field(default_factory=list)  # of each variant's text
    more: list[str] = field(default_factory=list)  # the variants after the first
    hits: int = 0
    tries: int = 0  # generations that brought nothing new
    claimed_until: float = 0.0
    seen: dict[str, int] = field(default_factory=dict)  # conversation: the variant it saw last
    seen_bytes: int = 0


# Estimated bytes of an entry's object and its dict slots (its strings are added).
_ENTRY_OVERHEAD = 200
_RECORD_OVERHEAD = 150
_VARIANT_OVERHEAD = 80  # a variant's slot and its text digest
_SEEN_OVERHEAD = 80  # a conversation's slot in an entry's ``seen``, besides its id


def _record_size(record: LogRecord) -> int:
    return (_RECORD_OVERHEAD + sys.getsizeof(record.question) + sys.getsizeof(record.scope)
            + sys.getsizeof(record.entry_key))


@dataclass
class MemoryBackend:
    """One process's cache: an LRU dict with TTL. The default when no Redis is configured."""

    ttl_seconds: float
    max_entries: int
    max_bytes: int = 256 << 20
    variants: int = 1
    variant_after_hits: int = 3
    name: str = "memory"
    _entries: OrderedDict[str, _Entry] = field(default_factory=OrderedDict)
    _aliases: dict[str, str] = field(default_factory=dict)
    _log: deque[tuple[LogRecord, int]] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _entry_bytes: int = 0
    _log_bytes: int = 0
    _generations: int = 0

    def _live(self, entry_key: str, now: float) -> _Entry | None:
        entry = self._entries.get(entry_key)
        if entry is None:
            return None
        if entry.expires_at <= now:
            self._evict(entry_key)
            return None
        return entry

    def _evict(self, entry_key: str) -> bool:
        entry = self._entries.pop(entry_key)
        self._entry_bytes -= entry.size
        if entry.alias_key is not None and self._aliases.get(entry.alias_key) == entry_key:
            del self._aliases[entry.alias_key]
        return entry.prewarm_unused

    def _found(self, tier: str, entry_key: str, entry: _Entry, draw: Draw | None,
               now: float) -> Found:
        self._entries.move_to_end(entry_key)
        first_use, entry.prewarm_unused = entry.prewarm_unused, False
        if draw is None:
            return Found(tier, entry_key, entry.payload, first_use)
        count = 1 + len(entry.more)
        growing = draw.claim and count < self.variants  # a full entry counts no more hits
        entry.hits += growing
        due = None
        if (growing
                and entry.hits >= self.variant_after_hits * (count + entry.tries)
                and entry.claimed_until <= now):
            entry.claimed_until = now + VARIANT_LEASE_SECONDS
            due = entry.generation
        chosen = pick(count, entry.seen.get(draw.conversation) if draw.conversation else None,
                      draw)
        wasted = self._saw(entry, draw.conversation, chosen) if count > 1 else 0
        payload = entry.payload if chosen == 0 else entry.more[chosen - 1]
        return Found(tier, entry_key, payload, first_use, chosen, count, due, wasted)

    def _saw(self, entry: _Entry, conversation: str, chosen: int) -> int:
        """Note that ``conversation`` saw ``chosen``; its bytes count toward the bound (the
        unused pre-warmed entries evicted to keep it are returned)."""
        if not conversation:
            return 0
        if conversation in entry.seen:
            entry.seen[conversation] = chosen
            return 0
        grown = _SEEN_OVERHEAD + sys.getsizeof(conversation)
        if len(entry.seen) >= CONVERSATIONS_PER_ENTRY:
            entry.seen.clear()
            grown -= entry.seen_bytes
            entry.seen_bytes = 0
        entry.seen[conversation] = chosen
        entry.seen_bytes += _SEEN_OVERHEAD + sys.getsizeof(conversation)
        entry.size += grown
        self._entry_bytes += grown
        return self._shrink() if grown > 0 else 0

    def get(self, exact_key: str, alias_key: str | None,
            draw: Draw | None = None) -> Found | None:
        now = time.time()
        with self._lock:
            entry = self._live(exact_key, now)
            if entry is not None:
                return self._found("exact", exact_key, entry, draw, now)
            target = self._aliases.get(alias_key) if alias_key else None
            entry = self._live(target, now) if target else None
            if target is not None and entry is not None:
                return self._found("variation", target, entry, draw, now)
        return None

    def lookup(self, exact_key: str, alias_key: str | None, draw: Draw | None = None,
               tail: bool = False) -> Lookup:
        found = self.get(exact_key, alias_key, draw)
        return Lookup(found, self.tail() if found is None and tail else [])

    def add_variant(self, entry_key: str, due: str, payload: str | None, digest: str,
                    tried: bool = True) -> VariantAdded:
        with self._lock:
            entry = self._live(entry_key, time.time())
            if entry is None or entry.generation != due:
                return VariantAdded(False)
            entry.claimed_until = 0.0
            if (payload is None or 1 + len(entry.more) >= self.variants
                    or digest in entry.digests):
                entry.tries += tried
                return VariantAdded(False)
            entry.more.append(payload)
            entry.digests.append(digest)
            grown = _VARIANT_OVERHEAD + sys.getsizeof(payload)
            entry.size += grown
            self._entry_bytes += grown
            return VariantAdded(True, self._shrink())

    def variant_keys(self) -> int:
        with self._lock:
            return sum(1 for entry in self._entries.values() if entry.more)

    def put(self, entry_key: str, alias_key: str | None, payload: str, prewarmed: bool,
            record: LogRecord, digest: str = "") -> int:
        with self._lock:
            if entry_key in self._entries:
                self._evict(entry_key)
            size = (_ENTRY_OVERHEAD + sys.getsizeof(payload) + 2 * sys.getsizeof(entry_key)
                    + (2 * sys.getsizeof(alias_key) if alias_key else 0))
            self._generations += 1
            self._entries[entry_key] = _Entry(
                payload, alias_key, time.time() + self.ttl_seconds, prewarmed, size,
                str(self._generations), [digest],
            )
            self._entry_bytes += size
            if alias_key is not None:
                self._aliases[alias_key] = entry_key
            self._append(record)
            return self._shrink()

    def _shrink(self) -> int:
        """Evict least recently used entries until both bounds hold; the unused pre-warmed."""
        wasted = 0
        while self._entries and (len(self._entries) > self.max_entries
                                 or self._entry_bytes > self.max_bytes - self._log_bytes):
            wasted += self._evict(next(iter(self._entries)))
        return wasted

    def _append(self, record: LogRecord) -> None:
        size = _record_size(record)
        self._log.append((record, size))
        self._log_bytes += size
        while self._log_bytes > self.max_bytes // 8:
            self._log_bytes -= self._log.popleft()[1]

    def tail(self) -> list[LogRecord]:
        with self._lock:
            records, self._log, self._log_bytes = self._log, deque(), 0
        return [record for record, _ in records]

    def stats(self) -> tuple[int, int]:
        """(entries, bytes): the answers and the questions waiting for the semantic index."""
        with self._lock:
            return len(self._entries), self._entry_bytes + self._log_bytes

    def ping(self) -> None:
        return None

    def close(self) -> None:
        return None
