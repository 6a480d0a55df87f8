"""The semantic tier: a TF-IDF model over words and character n-grams, with guards.

Runs offline on a couple of CPU cores with nothing to download: each cached question becomes a
sparse vector of word stems and character trigrams (trigrams absorb typos and word forms), IDF
comes from the cached questions themselves. A candidate must pass the guards before its score
counts — same intent, same names and numbers, same negation and markers, and no word swapped
for another — because lexical similarity alone cannot tell "How much is Pro?" from "What is
in Pro?". Only then is cosine similarity compared with the calibrated threshold.
"""

from __future__ import annotations

import functools
import itertools
import math
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass

import numpy as np

from service.cache.analyzer import Analysis, footprint
from service.cache.guards import GENERIC_SHARE
from service.cache.judge import WordStats
from service.cache.matching import OperatingPoint
from service.cache.ranking import SlotAges, smallest

__all__ = ["DEFAULT_THRESHOLD", "SemanticIndex", "SemanticMatch", "similarity"]

# Calibrated on the tuning part of the reference workload (docs/cache.md, "Calibration").
DEFAULT_THRESHOLD = 0.45
_CHAR_WEIGHT = 0.5  # trigrams help with typos, but words carry the meaning
_SHORTLIST = 24  # candidates scored exactly, after a cheap word-overlap pre-ranking


@dataclass(frozen=True)
class SemanticMatch:
    """A cached question the operating point accepted: its score, and how sure the decision is
    (the score itself in ``strict``, the judge's probability in ``balanced``)."""

    entry_key: str
    score: float
    question: Analysis
    confidence: float = 0.0


def _trigrams(word: str) -> set[str]:
    padded = f"#{word}#"
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


@functools.lru_cache(maxsize=4096)
def _term_features(term: str) -> tuple[str, ...]:
    """A term's features: the word, then its character trigrams. Terms recur from question to
    question, so each is spelt out once (and its strings are shared by the documents)."""
    return ("w:" + term, *("c:" + gram for gram in _trigrams(term)))


def _features(analysis: Analysis) -> Counter[str]:
    return Counter(itertools.chain.from_iterable(map(_term_features, analysis.terms)))


class _Idf:
    """Document frequencies over every indexed question; IDF follows what is cached."""

    def __init__(self) -> None:
        self.df: Counter[str] = Counter()
        self.docs = 0

    def add(self, features: Counter[str], sign: int) -> None:
        self.docs += sign
        if sign > 0:
            self.df.update(features.keys())  # each feature once: a document counts once
            return
        for feature in features:
            self.df[feature] += sign
            if not self.df[feature]:
                del self.df[feature]  # a feature no document has is not kept (unique words)

    def generic(self, word: str) -> bool:
        df = self.df.get("w:" + word, 0)
        return df >= 3 and df >= GENERIC_SHARE * self.docs

    def weight(self, feature: str) -> float:
        idf = math.log((1 + self.docs) / (1 + self.df.get(feature, 0))) + 1.0
        return idf * (_CHAR_WEIGHT if feature.startswith("c:") else 1.0)


def _vector(features: Counter[str], idf: _Idf) -> tuple[dict[str, float], float]:
    vector = {f: (1 + math.log(n)) * idf.weight(f) for f, n in features.items()}
    return vector, math.sqrt(sum(v * v for v in vector.values())) or 1.0


def similarity(a: Analysis, b: Analysis, idf: _Idf | None = None) -> float:
    """Cosine similarity of two questions' TF-IDF vectors (flat IDF when none is given)."""
    idf = idf or _Idf()
    va, na = _vector(_features(a), idf)
    vb, nb = _vector(_features(b), idf)
    return sum(w * vb.get(f, 0.0) for f, w in va.items()) / (na * nb)


class _QueryVector:
    """The query's TF-IDF vector and norm, made when a candidate first passed the guards: on a
    miss none usually does, and the vector is never needed."""

    __slots__ = ("_idf", "_query", "_vector")

    def __init__(self, query: Analysis, idf: _Idf) -> None:
        self._query = query
        self._idf = idf
        self._vector: tuple[dict[str, float], float] | None = None

    def __call__(self) -> tuple[dict[str, float], float]:
        if self._vector is None:
            self._vector = _vector(_features(self._query), self._idf)
        return self._vector


@dataclass
class _Doc:
    scope: str
    entry_key: str
    analysis: Analysis
    features: Counter[str]
    size: int  # estimated bytes this document holds in the index


# Estimated bytes per indexed document (measured with tracemalloc, rounded up): each feature
# costs a Counter slot and its key string, plus its share of the IDF table; each term a slot
# in a posting set.
_DOC_BASE = 500
_PER_FEATURE = 115
_PER_TERM = 80


def _doc_size(analysis: Analysis, features: Counter[str]) -> int:
    return (_DOC_BASE + footprint(analysis) + _PER_FEATURE * len(features)
            + _PER_TERM * len(set(analysis.terms)))


class _Postings:
    """Which document slots contain a term: a set, and a numpy copy for the search. A common
    term's set holds most slots, so the copy is not rebuilt at each store: the next search
    appends the slots added since (their order in it does not matter); a removal rebuilds it."""

    __slots__ = ("_added", "_array", "slots")

    def __init__(self) -> None:
        self.slots: set[int] = set()
        self._array: np.ndarray | None = None
        self._added: list[int] = []

    def add(self, slot: int) -> None:
        if slot not in self.slots:
            self.slots.add(slot)
            if self._array is not None:
                self._added.append(slot)

    def discard(self, slot: int) -> None:
        self.slots.discard(slot)
        self._array = None
        self._added.clear()

    def array(self) -> np.ndarray:
        if self._array is None:
            self._array = np.fromiter(self.slots, dtype=np.int64, count=len(self.slots))
        elif self._added:
            self._array = np.concatenate((self._array, np.array(self._added, dtype=np.int64)))
            self._added.clear()
        return self._array


class SemanticIndex:
    """Cached questions per scope, searchable by similarity; bounded, oldest dropped first.

    Candidates come from an inverted index of word terms, scored with numpy over document
    slots (so a common word in 10 000 questions costs microseconds); only a short list of them
    gets the exact guarded cosine. Bounded both in documents and in estimated bytes, so long
    questions cannot grow it past ``max_bytes``.
    """

    name = "lexical"

    def __init__(self, max_docs: int, point: OperatingPoint | None = None,
                 max_bytes: int = 128 << 20) -> None:
        self.point = point or OperatingPoint("strict", DEFAULT_THRESHOLD, DEFAULT_THRESHOLD)
        self.threshold = self.point.threshold
        self.bytes = 0
        self._max_docs = max_docs
        self._max_bytes = max_bytes
        self._slots: OrderedDict[tuple[str, str], int] = OrderedDict()  # oldest first
        self._docs: list[_Doc | None] = []
        self._free: list[int] = []
        self._length = np.zeros(0)  # 1/sqrt(terms) per slot: short questions are not drowned
        self._ages = SlotAges()  # when a slot was (re)stored: ties go oldest first
        self._postings: dict[tuple[str, str], _Postings] = {}
        self._idf = _Idf()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._slots)

    def add(self, scope: str, entry_key: str, analysis: Analysis) -> None:
        key = (scope, entry_key)
        with self._lock:
            if key in self._slots:
                self._slots.move_to_end(key)
                self._ages.stamp(self._slots[key])
                return
            features = _features(analysis)
            doc = _Doc(scope, entry_key, analysis, features, _doc_size(analysis, features))
            if doc.size > self._max_bytes:
                return
            slot = self._free.pop() if self._free else len(self._docs)
            if slot == len(self._docs):
                self._docs.append(None)
                if slot >= len(self._length):
                    grown = max(64, slot)
                    self._length = np.concatenate([self._length, np.zeros(grown)])
                    self._ages.grow(grown)
            self._docs[slot] = doc
            self._ages.stamp(slot)
            self._length[slot] = 1.0 / math.sqrt(max(1, len(set(analysis.terms))))
            self._slots[key] = slot
            self.bytes += doc.size
            self._idf.add(doc.features, +1)
            for term in set(analysis.terms):
                postings = self._postings.get((scope, term))
                if postings is None:
                    postings = self._postings[(scope, term)] = _Postings()
                postings.add(slot)
            while len(self._slots) > self._max_docs or self.bytes > self._max_bytes:
                self._drop(next(iter(self._slots)))

    def add_many(self, items: list[tuple[str, str, Analysis]]) -> None:
        for scope, entry_key, analysis in items:
            self.add(scope, entry_key, analysis)

    def remove(self, scope: str, entry_key: str) -> None:
        with self._lock:
            if (scope, entry_key) in self._slots:
                self._drop((scope, entry_key))

    def close(self) -> None:
        return None

    def _drop(self, key: tuple[str, str]) -> None:
        slot = self._slots.pop(key)
        doc = self._docs[slot]
        assert doc is not None
        self._docs[slot] = None
        self.bytes -= doc.size
        self._length[slot] = 0.0
        self._free.append(slot)
        self._idf.add(doc.features, -1)
        for term in set(doc.analysis.terms):
            postings = self._postings.get((doc.scope, term))
            if postings is not None:
                postings.discard(slot)
                if not postings.slots:
                    del self._postings[(doc.scope, term)]

    def _cosine(self, query_vector: _QueryVector, doc: _Doc) -> float:
        q_vector, q_norm = query_vector()
        d_vector, d_norm = _vector(doc.features, self._idf)
        return sum(w * d_vector.get(f, 0.0) for f, w in q_vector.items()) / (q_norm * d_norm)

    def search(self, scope: str, query: Analysis, limit: int = 3) -> list[SemanticMatch]:
        """The matches the operating point accepts, most confident first."""
        with self._lock:
            overlap = np.zeros(len(self._docs))
            # Terms in a fixed order: a float sum's last bit follows the order of its terms, and a
            # set's order follows string hashing, which differs per process; so would the ties.
            for term in sorted(set(query.terms)):
                postings = self._postings.get((scope, term))
                if postings is not None:
                    overlap[postings.array()] += self._idf.weight("w:" + term)
            overlap *= self._length[: len(overlap)]
            found = int(np.count_nonzero(overlap))
            if not found:
                return []
            age = self._ages.of[: len(overlap)]
            best = smallest(-overlap, min(_SHORTLIST, found), age)
            query_vector = _QueryVector(query, self._idf)
            words = WordStats(lambda word: self._idf.df.get("w:" + word, 0), self._idf.docs)
            ranked = []
            for slot in best.tolist():
                doc = self._docs[slot]
                if doc is None:
                    continue
                score_of = functools.partial(self._cosine, query_vector, doc)
                accepted = self.point.accept(query, doc.analysis, score_of, words, False)
                if accepted is not None:
                    match = SemanticMatch(doc.entry_key, accepted[0], doc.analysis, accepted[1])
                    ranked.append((-match.confidence, -overlap[slot], age[slot], match))
        # most confident first; on a tie the larger overlap, then the oldest (ages are unique)
        ranked.sort(key=lambda r: r[:3])
        matches = [r[3] for r in ranked]
        return matches[:limit]
