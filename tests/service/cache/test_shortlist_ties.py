"""Ties at a shortlist's cut go to the oldest question, on every CPU (docs/cache.md).

Both semantic indexes keep a short list of candidates before the exact scoring. When more cached
questions tie at its cut than it holds, ``np.argpartition`` alone keeps whichever its sorting
kernel leaves there, and numpy picks that kernel for the CPU (AVX2 or not): the same cache read
differently from one machine of a fleet to the next, and the pair judge trained on one box
failed its check on another. Here more equal questions are cached than any shortlist holds,
after evictions have handed freed slots to newer questions, so neither the slot order nor the
kernel's order is the oldest-first order asked for.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from service.cache import Analyzer
from service.cache.semantic import SemanticIndex
from service.cache.vectors import VectorIndex

QUESTION = "How do I reset my password?"
LONGER = "How do I reset my password on the phone app?"  # overlaps less: below the ties
KEPT = 40  # the index's bound: the first 20 of the 60 questions stored are dropped


def _stored(longer: int) -> list[tuple[str, str, str]]:
    """60 questions stored one by one, every ``longer``-th a longer one (none when 0)."""
    return [("s", f"e{i:02d}", LONGER if longer and i % longer == 0 else QUESTION)
            for i in range(60)]


def _oldest_kept(count: int, longer: int) -> list[str]:
    return [f"e{i:02d}" for i in range(60 - KEPT, 60) if not longer or i % longer][:count]


def test_lexical_ties_at_the_shortlist_go_to_the_oldest() -> None:
    analyzer = Analyzer()
    index = SemanticIndex(KEPT)
    for scope, key, question in _stored(longer=3):
        index.add(scope, key, analyzer.analyse(question))
    found = index.search("s", analyzer.analyse(QUESTION), limit=100)
    assert [m.entry_key for m in found] == _oldest_kept(24, longer=3)  # the shortlist, all equal


class _SameVector:
    """An embedder that puts every text at one point: every cached question ties."""

    name = "same"
    threshold = 0.5
    word_threshold = 0.9

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return np.full((len(texts), 64), 1 / 8, dtype=np.float32)


def test_vector_ties_at_the_shortlist_go_to_the_oldest() -> None:
    analyzer = Analyzer()
    index = VectorIndex(_SameVector(), analyzer, KEPT)
    for scope, key, question in _stored(longer=0):
        index.add(scope, key, analyzer.analyse(question))
    found = index.search("s", analyzer.analyse(QUESTION), limit=100)
    # 32 of the 40 tie at the Hamming cut, then the eight best of them get the guards
    assert [m.entry_key for m in found] == _oldest_kept(8, longer=0)
