"""The semantic tier over sentence embeddings: a quantised vector index with the same guards.

Used when ``CHAT_CACHE_EMBEDDINGS`` is ``local`` or ``openai``. Each cached question is kept as
a 1-bit code (the signs of its vector: 32 bytes at 256 dimensions) for a Hamming pre-ranking
over every question of the scope, and an int8 code with one scale for the exact re-scoring of a
short list — ≈ 300 bytes of vectors per question, so 50,000 fit in ≈ 15 MB plus bookkeeping.
Candidates above the operating point's floor are then judged by it (``matching.py``): the
guards (intent, names and numbers, negation, directions, and in ``strict`` swapped words,
where two different words count as one when the model puts them close, "phone" / "iPhone"),
then the score or the pair judge.
The question text is what the index keeps for the guards; its analysis is memoised elsewhere.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, OrderedDict
from collections.abc import Sequence

import numpy as np

from service.cache.analyzer import Analysis, Analyzer
from service.cache.breaker import CircuitBreaker
from service.cache.embeddings import Embedder, EmbeddingError
from service.cache.judge import WordStats
from service.cache.matching import OperatingPoint
from service.cache.ranking import SlotAges, smallest
from service.cache.semantic import SemanticMatch

__all__ = ["VectorIndex"]

log = logging.getLogger(__name__)

_SHORTLIST = 32  # candidates re-scored from their int8 codes after the Hamming pre-ranking
# Candidates above the threshold that get the guards, best first: a flood of near-duplicates
# ("sync Tool1 into Tool2", "… Tool3" …) would otherwise cost an analysis each per lookup.
_GUARDED = 8
# Share of bits beyond the expected distance still re-scored: ~3 standard deviations of the
# bit-count estimate at 256 dimensions.
_BIT_MARGIN = 0.08
_FREE = -1  # scope id of an empty slot
# Estimated Python-side bytes of one document (key tuple, OrderedDict entry, list slots) beyond
# its two strings, and of one word in the document-frequency table or the word-vector cache.
_DOC_OVERHEAD = 360
_WORD_OVERHEAD = 150
_WORD_CACHE = 4_096


class VectorIndex:
    """Cached questions per scope as quantised embeddings; bounded in documents and bytes."""

    def __init__(self, embedder: Embedder, analyzer: Analyzer, max_docs: int,
                 max_bytes: int = 128 << 20, point: OperatingPoint | None = None,
                 breaker_seconds: float = 5.0) -> None:
        self.embedder = embedder
        self.analyzer = analyzer
        self.name = embedder.name
        self.point = point or OperatingPoint("strict", embedder.threshold, embedder.threshold,
                                             embedder.word_threshold)
        self.threshold = self.point.threshold
        self.errors = 0
        self._max_docs = max_docs
        self._max_bytes = max_bytes
        self._breaker = CircuitBreaker(breaker_seconds)
        self._lock = threading.RLock()
        self._words_lock = threading.Lock()
        self._dims = 0
        self._words = 0  # uint64 words per binary code
        self._bits = np.zeros((0, 0), dtype=np.uint64)  # (words, capacity): column-contiguous
        self._codes = np.zeros((0, 0), dtype=np.int8)
        self._scale = np.zeros(0, dtype=np.float32)
        self._scope = np.zeros(0, dtype=np.int32)
        self._ages = SlotAges()  # when a slot was (re)stored: ties go oldest first
        self._keys: list[str | None] = []
        self._questions: list[str | None] = []
        self._slots: OrderedDict[tuple[str, str], int] = OrderedDict()  # oldest first
        self._free: list[int] = []
        self._scope_ids: dict[str, int] = {}
        self._scope_docs: Counter[int] = Counter()
        self._df: Counter[str] = Counter()
        self._word_vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._text_bytes = 0
        self._high = 0  # one past the highest slot ever used
        self._buffer = np.zeros(0, dtype=np.uint64)  # search scratch, sized to the capacity
        self._counts = np.zeros(0, dtype=np.uint8)
        self._distance = np.zeros(0, dtype=np.uint16)

    def __len__(self) -> int:
        return len(self._slots)

    @property
    def bytes(self) -> int:
        """Arrays as allocated, plus the estimated Python objects around them."""
        arrays = (self._bits.nbytes + self._codes.nbytes + self._scale.nbytes
                  + self._scope.nbytes + self._buffer.nbytes + self._counts.nbytes
                  + self._distance.nbytes)
        words = (len(self._df) * _WORD_OVERHEAD
                 + len(self._word_vectors) * (_WORD_OVERHEAD + 4 * self._dims))
        return arrays + self._text_bytes + len(self._slots) * _DOC_OVERHEAD + words

    # --- the embedder, behind the breaker ------------------------------------------------------
    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        if not self._breaker.allow():
            raise EmbeddingError(f"embeddings unavailable ({self._breaker.last_error})")
        try:
            vectors = self.embedder.embed(texts)
        except EmbeddingError as exc:
            self.errors += 1
            self._breaker.failure(str(exc))
            raise
        self._breaker.success()
        return vectors

    def _word_similarity(self, a: str, b: str) -> float:
        """How close the model puts two words (their vectors are cached, least recent out)."""
        with self._words_lock:
            cached = {w: self._word_vectors.get(w) for w in (a, b)}
        known = {w: v for w, v in cached.items() if v is not None}
        missing = [w for w in cached if w not in known]
        if missing:
            known.update(zip(missing, self._embed(missing), strict=True))
        with self._words_lock:
            for word, vector in known.items():
                self._word_vectors[word] = vector
                self._word_vectors.move_to_end(word)
            while len(self._word_vectors) > _WORD_CACHE:
                self._word_vectors.popitem(last=False)
        return float(known[a] @ known[b])

    # --- storage -------------------------------------------------------------------------------
    def _grow(self, dims: int) -> None:
        if not self._dims:
            self._dims, self._words = dims, (dims + 63) // 64
            self._bits = np.zeros((self._words, 0), dtype=np.uint64)
            self._codes = np.zeros((0, dims), dtype=np.int8)
        capacity = len(self._scale)
        new = min(max(64, 2 * capacity), max(64, self._max_docs))
        if new <= capacity:
            return
        bits = np.zeros((self._words, new), dtype=np.uint64)
        bits[:, :capacity] = self._bits
        codes = np.zeros((new, self._dims), dtype=np.int8)
        codes[:capacity] = self._codes
        self._bits, self._codes = bits, codes
        self._scale = np.concatenate([self._scale, np.zeros(new - capacity, dtype=np.float32)])
        self._scope = np.concatenate([self._scope, np.full(new - capacity, _FREE, np.int32)])
        self._ages.grow(new - capacity)
        self._keys += [None] * (new - capacity)
        self._questions += [None] * (new - capacity)
        self._free.extend(range(new - 1, capacity - 1, -1))

    def _binary(self, vectors: np.ndarray) -> np.ndarray:
        """Sign bits of each row as ``words`` uint64 columns: shape (words, rows)."""
        padded = np.zeros((len(vectors), self._words * 64), dtype=bool)
        padded[:, : vectors.shape[1]] = vectors > 0
        return np.packbits(padded, axis=1).view(np.uint64).T.copy()

    def add(self, scope: str, entry_key: str, analysis: Analysis) -> None:
        self.add_many([(scope, entry_key, analysis)])

    def add_many(self, items: Sequence[tuple[str, str, Analysis]]) -> None:
        """Index questions; all new ones are embedded in one call (one request for ``openai``).

        The embedding runs outside the lock, so a slow endpoint never holds other lookups.
        """
        with self._lock:
            fresh = {}
            for scope, entry_key, analysis in items:
                if (scope, entry_key) in self._slots:
                    self._slots.move_to_end((scope, entry_key))
                    self._ages.stamp(self._slots[(scope, entry_key)])
                else:
                    fresh[(scope, entry_key)] = analysis
        if not fresh:
            return
        try:
            vectors = self._embed([a.normalized for a in fresh.values()])
        except EmbeddingError as exc:
            log.warning("not indexed (%d questions): %s", len(fresh), exc)
            return
        with self._lock:
            codes, scales, bits = self._quantise(vectors)
            for row, ((scope, entry_key), analysis) in enumerate(fresh.items()):
                if (scope, entry_key) not in self._slots:  # another sync may have added it
                    self._put(scope, entry_key, analysis, codes[row], scales[row],
                              bits[:, row])
            while self._slots and (len(self._slots) > self._max_docs
                                   or self.bytes > self._max_bytes):
                self._drop(next(iter(self._slots)))

    def _quantise(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """int8 codes with one scale per row, and the 1-bit codes, for a batch of vectors."""
        if not self._dims:
            self._grow(vectors.shape[1])
        peaks = np.abs(vectors).max(axis=1)
        peaks[peaks == 0] = 1.0
        codes = np.round(vectors * (127 / peaks)[:, None]).astype(np.int8)
        return codes, (peaks / 127).astype(np.float32), self._binary(vectors)

    def _put(self, scope: str, entry_key: str, analysis: Analysis, code: np.ndarray,
             scale: float, bits: np.ndarray) -> None:
        if not self._free:
            if len(self._slots) >= self._max_docs:
                self._drop(next(iter(self._slots)))
            else:
                self._grow(self._dims)
        slot = self._free.pop()
        self._high = max(self._high, slot + 1)
        self._codes[slot] = code
        self._scale[slot] = scale
        self._bits[:, slot] = bits
        sid = self._scope_ids.setdefault(scope, len(self._scope_ids))
        self._scope[slot] = sid
        self._ages.stamp(slot)
        self._scope_docs[sid] += 1
        question = analysis.source
        self._keys[slot], self._questions[slot] = entry_key, question
        self._text_bytes += len(entry_key) + len(question)
        self._slots[(scope, entry_key)] = slot
        self._df.update(analysis.content)

    def remove(self, scope: str, entry_key: str) -> None:
        with self._lock:
            if (scope, entry_key) in self._slots:
                self._drop((scope, entry_key))

    def _drop(self, key: tuple[str, str]) -> None:
        slot = self._slots.pop(key)
        sid = int(self._scope[slot])
        self._scope[slot] = _FREE
        self._scope_docs[sid] -= 1
        if self._scope_docs[sid] <= 0:
            del self._scope_docs[sid]
            del self._scope_ids[key[0]]
        question, entry_key = self._questions[slot], self._keys[slot]
        assert question is not None and entry_key is not None
        self._text_bytes -= len(entry_key) + len(question)
        self._df.subtract(self.analyzer.analyse(question).content)
        self._df = +self._df if len(self._df) > 2 * len(self._slots) + 64 else self._df
        self._keys[slot] = self._questions[slot] = None
        self._free.append(slot)

    # --- search --------------------------------------------------------------------------------
    def search(self, scope: str, query: Analysis, limit: int = 3) -> list[SemanticMatch]:
        """The matches the operating point accepts, most confident first.

        Raises ``EmbeddingError`` when the query cannot be embedded (the cache then misses).
        """
        if scope not in self._scope_ids:
            return []
        vector = self._embed([query.normalized])[0]  # outside the lock: it may be remote
        with self._lock:
            sid = self._scope_ids.get(scope)
            if sid is None:
                return []
            best = self._candidates(vector, sid)
            scores = (self._codes[best].astype(np.float32) @ vector) * self._scale[best]
            above = [(float(scores[i]), self._keys[int(best[i])], self._questions[int(best[i])])
                     for i in np.lexsort((self._ages.of[best], -scores))[:_GUARDED]
                     if scores[i] >= self.point.floor]  # ties: the oldest (ages are unique)
            df = self._df
            words = WordStats(lambda word: df.get(word, 0), len(self._slots),
                              self._word_similarity, self.point.word_threshold)
        matches = []
        for score, entry_key, question in above:  # the guards may embed words: no lock held
            assert question is not None and entry_key is not None
            cached = self.analyzer.analyse(question)
            # Question forms (how / what / yes-no) may answer each other here; docs/cache.md,
            # "Guards on every backend", says why the lexical model keeps its stricter rule.
            accepted = self.point.accept(query, cached, score, words, True)
            if accepted is not None:
                matches.append(SemanticMatch(entry_key, score, cached, accepted[1]))
        matches.sort(key=lambda m: m.confidence, reverse=True)
        return matches[:limit]

    def _candidates(self, vector: np.ndarray, sid: int) -> np.ndarray:
        """Slots of scope ``sid`` whose 1-bit codes are within reach of the threshold.

        Two unit vectors at angle θ differ in about θ/π of their sign bits, so a cached question
        that can score ``threshold`` differs in about dims·acos(threshold)/π bits; the cutoff
        adds a margin for the noise of that estimate. Counting bits is a few numpy passes over
        preallocated buffers; only the few within the cutoff are re-scored exactly.
        """
        used = self._high  # slots are handed out lowest first: nothing lives above this
        if len(self._buffer) != len(self._scale):
            self._buffer = np.zeros(len(self._scale), dtype=np.uint64)
            self._counts = np.zeros(len(self._scale), dtype=np.uint8)
            self._distance = np.zeros(len(self._scale), dtype=np.uint16)
        buffer, counts, distance = self._buffer[:used], self._counts[:used], self._distance[:used]
        qbits = self._binary(vector[None, :])[:, 0]
        for word in range(self._words):
            np.bitwise_xor(self._bits[word, :used], qbits[word], out=buffer)
            np.bitwise_count(buffer, out=counts)
            if word:
                np.add(distance, counts, out=distance)
            else:
                np.copyto(distance, counts)
        far = self._dims + 1
        if len(self._scope_ids) > 1 or len(self._slots) < used:
            distance[self._scope[:used] != sid] = far  # other scopes and empty slots
        angle = np.arccos(min(1.0, max(-1.0, self.point.floor))) / np.pi
        cutoff = int(self._dims * (angle + _BIT_MARGIN))
        near = np.flatnonzero(distance <= cutoff)
        if len(near) > 8 * _SHORTLIST:
            # A flood of near-duplicates: distances are small integers, so a histogram finds
            # the distance that admits the nearest _SHORTLIST without sorting the flood.
            histogram = np.cumsum(np.bincount(distance, minlength=far + 1)[: cutoff + 1])
            near = np.flatnonzero(distance <= int(np.searchsorted(histogram, _SHORTLIST)))
        if len(near) > _SHORTLIST:
            near = near[smallest(distance[near], _SHORTLIST, self._ages.of[near])]
        return near

    def close(self) -> None:
        closer = getattr(self.embedder, "close", None)
        if closer is not None:
            closer()
