"""What conversations ask next, per tenant: pre-warm's memory of traffic, bounded in bytes.

Pre-warm predicts a follow-up from what other conversations asked after the same question. It
remembers three things: which question each recent conversation asked last, how often each
question followed another, and one text to generate for each question. Every one of them grows
with unique traffic, so all three share one byte budget (``CHAT_PREWARM_MEMORY_BYTES``) and the
least recently used entries go first. Questions are held by a short digest of their meaning, so
a long question costs its text once, not once per place it is mentioned.

The text kept for a question is its normalised form, the exact tier's key text: pre-warm then
sends the model exactly what the key covers and never a client's own wording, with whatever
that wording carried beside the words.
"""

from __future__ import annotations

import hashlib
import sys
import threading
from collections import Counter, OrderedDict
from typing import Any

__all__ = ["Transitions", "meaning_id"]

# Estimated bytes of one remembered slot: a dict entry, its key tuple and its digest strings.
_SLOT = 240
# One counted follow-up inside a question's counter.
_COUNTED = 120
# Follow-ups counted per question; past this the rarest is forgotten for the new one.
_FOLLOW_UPS_PER_QUESTION = 16


def meaning_id(meaning: str) -> str:
    """A question's meaning as a short digest: what the structures below hold."""
    return hashlib.blake2b(meaning.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


class _Lru:
    """One remembered structure: an LRU dict and the estimated bytes it holds."""

    def __init__(self) -> None:
        self.items: OrderedDict[Any, Any] = OrderedDict()
        self.bytes = 0


class Transitions:
    """Learned follow-ups per tenant, within ``max_bytes`` (estimated CPython sizes)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._asked = _Lru()  # (tenant, context after a question) -> its meaning id
        self._next = _Lru()  # (tenant, meaning id) -> Counter of the meaning ids asked next
        self._texts = _Lru()  # meaning id -> the normalised text to generate for it
        self._lock = threading.Lock()

    @property
    def bytes(self) -> int:
        return self._asked.bytes + self._next.bytes + self._texts.bytes

    def learn(self, tenant: str, context: str, next_context: str, meaning: str,
              text: str) -> None:
        """A conversation at ``context`` asked ``meaning`` (to be generated as ``text``)."""
        with self._lock:
            previous = self._asked.items.get((tenant, context)) if context else None
            if previous is not None:
                self._count(tenant, previous, meaning)
            self._put(self._asked, (tenant, next_context), meaning, _SLOT)
            if meaning in self._texts.items:
                self._texts.items.move_to_end(meaning)
            elif _SLOT + sys.getsizeof(text) <= self.max_bytes // 8:
                self._put(self._texts, meaning, text, _SLOT + sys.getsizeof(text))
            self._trim()

    def predicted(self, tenant: str, meaning: str, count: int) -> list[str]:
        """The texts of the ``count`` questions most often asked after ``meaning``."""
        with self._lock:
            counts = self._next.items.get((tenant, meaning))
            if counts is None:
                return []
            texts = self._texts.items
            return [texts[m] for m, _ in counts.most_common(count) if m in texts]

    def _count(self, tenant: str, previous: str, meaning: str) -> None:
        key = (tenant, previous)
        counts = self._next.items.get(key)
        if counts is None:
            counts = Counter()
            self._put(self._next, key, counts, _SLOT)
        else:
            self._next.items.move_to_end(key)
        if meaning not in counts:
            if len(counts) >= _FOLLOW_UPS_PER_QUESTION:
                del counts[min(counts, key=counts.__getitem__)]
                self._next.bytes -= _COUNTED
            self._next.bytes += _COUNTED
        counts[meaning] += 1

    @staticmethod
    def _put(lru: _Lru, key: Any, value: Any, size: int) -> None:
        if key not in lru.items:
            lru.bytes += size
        lru.items[key] = value
        lru.items.move_to_end(key)

    def _trim(self) -> None:
        while self.bytes > self.max_bytes:
            largest = max((self._asked, self._next, self._texts), key=lambda lru: lru.bytes)
            _, value = largest.items.popitem(last=False)
            if largest is self._texts:
                largest.bytes -= _SLOT + sys.getsizeof(value)
            elif largest is self._next:
                largest.bytes -= _SLOT + _COUNTED * len(value)
            else:
                largest.bytes -= _SLOT
