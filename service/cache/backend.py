"""Where cached answers live: the interface both backends keep, and the in-memory backend.

The cache logic (``cache.py``) only talks to this small interface, so the same tests run
against memory and Redis. Entries are JSON payloads under an entry key; a variation key is an
alias that points at an entry; every store is also appended to a log that semantic indexes tail,
so a worker can find questions another worker cached.

The in-memory backend is bounded in bytes as well as entries (``CHAT_CACHE_MEMORY_BYTES``): long
answers weigh more than short ones. Its log is drained by the semantic index, which only looks
when a question it can match is asked; traffic of long or non-Latin questions never drains it,
so the log keeps at most an eighth of that budget, oldest records dropped first (the index would
not have matched those questions anyway, or has room for fewer).
"""

from __future__ import annotations

import sys
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["Backend", "BackendError", "Found", "LogRecord", "MemoryBackend"]


class BackendError(RuntimeError):
    """Raised when the backend failed or was too slow; the cache then answers uncached."""


@dataclass(frozen=True)
class Found:
    """A stored entry a key led to."""

    tier: str  # "exact" or "variation": which key found it
    entry_key: str
    payload: str
    first_prewarm_use: bool  # a pre-warmed entry hit for the first time


@dataclass(frozen=True)
class LogRecord:
    """One stored question, as the semantic index learns of it."""

    scope: str
    entry_key: str
    question: str


class Backend(Protocol):
    """What the cache needs from storage. Every method may raise ``BackendError``."""

    name: str

    def get(self, exact_key: str, alias_key: str | None) -> Found | None: ...
    def put(self, entry_key: str, alias_key: str | None, payload: str, prewarmed: bool,
            record: LogRecord) -> int:
        """Store; returns how many unused pre-warmed entries the size bound evicted."""
        ...
    def tail(self) -> list[LogRecord]:
        """Stores since the previous call (this process's and every other one's)."""
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
    size: int  # estimated bytes held: payload, keys, the entry and its dict slots


# Estimated bytes of an entry's object and its dict slots (its strings are added).
_ENTRY_OVERHEAD = 200
_RECORD_OVERHEAD = 150


def _record_size(record: LogRecord) -> int:
    return (_RECORD_OVERHEAD + sys.getsizeof(record.question) + sys.getsizeof(record.scope)
            + sys.getsizeof(record.entry_key))


@dataclass
class MemoryBackend:
    """One process's cache: an LRU dict with TTL. The default when no Redis is configured."""

    ttl_seconds: float
    max_entries: int
    max_bytes: int = 256 << 20
    name: str = "memory"
    _entries: OrderedDict[str, _Entry] = field(default_factory=OrderedDict)
    _aliases: dict[str, str] = field(default_factory=dict)
    _log: deque[tuple[LogRecord, int]] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _entry_bytes: int = 0
    _log_bytes: int = 0

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

    def _found(self, tier: str, entry_key: str, entry: _Entry) -> Found:
        self._entries.move_to_end(entry_key)
        first_use, entry.prewarm_unused = entry.prewarm_unused, False
        return Found(tier, entry_key, entry.payload, first_use)

    def get(self, exact_key: str, alias_key: str | None) -> Found | None:
        now = time.time()
        with self._lock:
            entry = self._live(exact_key, now)
            if entry is not None:
                return self._found("exact", exact_key, entry)
            target = self._aliases.get(alias_key) if alias_key else None
            entry = self._live(target, now) if target else None
            if target is not None and entry is not None:
                return self._found("variation", target, entry)
        return None

    def put(self, entry_key: str, alias_key: str | None, payload: str, prewarmed: bool,
            record: LogRecord) -> int:
        with self._lock:
            if entry_key in self._entries:
                self._evict(entry_key)
            size = (_ENTRY_OVERHEAD + sys.getsizeof(payload) + 2 * sys.getsizeof(entry_key)
                    + (2 * sys.getsizeof(alias_key) if alias_key else 0))
            self._entries[entry_key] = _Entry(
                payload, alias_key, time.time() + self.ttl_seconds, prewarmed, size
            )
            self._entry_bytes += size
            if alias_key is not None:
                self._aliases[alias_key] = entry_key
            self._append(record)
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
