"""The operating point: how a semantic candidate becomes a hit (``CHAT_CACHE_MATCH``).

``strict`` passes every guard and needs a similarity score at the backend's threshold: the
precision >= 0.99 the cache has been measured to keep on every set. ``balanced`` keeps only the
hard guards and asks the pair judge (``judge.py``) whether the rest says "same question", at
the probability the judge was calibrated for: more recall for a little precision. A backend
with no trained judge (``openai``) compares the score alone in ``balanced``. One threshold per
operating point, from ``CHAT_CACHE_SEMANTIC_THRESHOLD``, else the domain pack, else the
backend's or the judge's own; ``python -m loadtests cache-calibrate`` shows the frontier they
choose from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from service.cache.analyzer import Analysis
from service.cache.guards import hard_guards, word_guard
from service.cache.judge import PairJudge, WordStats, load_judges, pair_features
from service.cache.pack import DomainPack
from service.settings import SettingsError

__all__ = ["MODES", "OperatingPoint", "operating_point"]

MODES = ("strict", "balanced")


@dataclass(frozen=True)
class OperatingPoint:
    """A mode and its threshold: the score (``strict``) or the judge's probability."""

    mode: str
    threshold: float
    floor: float  # candidates under this score are not considered
    word_threshold: float = 1.01  # strict: two words this close are one word
    judge: PairJudge | None = None

    def accept(self, query: Analysis, cached: Analysis, score: float | Callable[[], float],
               words: WordStats, any_form: bool) -> tuple[float, float] | None:
        """(score, confidence) when ``cached`` may answer ``query`` — the confidence is the
        score in ``strict`` and the judge's probability in ``balanced`` — else None. Guards
        first: they cost less than a score still to be computed (a callable)."""
        if not hard_guards(query, cached, any_form):
            return None
        if self.mode == "strict" and not word_guard(
                query, cached, words.generic,
                lambda a, b: words.similarity(a, b) >= self.word_threshold):
            return None
        if callable(score):
            score = score()
        if score < self.floor:
            return None
        if self.judge is None:
            return (score, score) if score >= self.threshold else None
        probability = self.judge.probability(pair_features(query, cached, score, words))
        return (score, probability) if probability >= self.threshold else None


def operating_point(mode: str, backend: str, pack: DomainPack, default_threshold: float,
                    default_word: float = 1.01, override: float = 0.0) -> OperatingPoint:
    """The operating point for ``backend``: ``override`` (CHAT_CACHE_SEMANTIC_THRESHOLD) first,
    then the pack's calibrated value, then the judge's or the backend's own."""
    if mode not in MODES:
        raise SettingsError(f"CHAT_CACHE_MATCH={mode!r}: choose one of {', '.join(MODES)}")
    word = pack.threshold(backend, "word") or default_word
    strict = override or pack.threshold(backend, "strict") or default_threshold
    if mode == "strict":
        return OperatingPoint(mode, strict, strict, word)
    judge = load_judges().get(backend)
    if judge is None:
        threshold = override or pack.threshold(backend, "balanced") or strict
        return OperatingPoint(mode, threshold, threshold, word)
    threshold = override or pack.threshold(backend, "balanced") or judge.threshold
    return OperatingPoint(mode, threshold, judge.floor, word, judge)
