"""The pair judge: may a cached question's answer serve this question? A learned decision.

The ``balanced`` operating point keeps only the hard guards (names, numbers, markers, direction,
kind of answer) and leaves the rest to this judge: a logistic model over features of the pair
that name no word of any product — the similarity score, whether the strict word guard would
pass, how close the words each side has alone come to the other side's words, how rare they
are, how much the two share. ``python -m loadtests cache-judge`` trains it on the labelled
pairs of the reference workload's tuning part only and writes ``judge.json`` beside this file,
one model per semantic backend; what it scores on sets nobody trained on is in docs/cache.md.

The decision step is a seam: anything with ``probability(features)`` and a ``threshold`` can
judge (a cross-encoder, or the upstream model asked "same question?", where one is at hand).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rapidfuzz import fuzz

from service.cache.analyzer import Analysis
from service.cache.guards import GENERIC_SHARE, same_word, word_guard

__all__ = ["FEATURES", "JUDGE_FILE", "PairJudge", "WordStats", "load_judges", "pair_features"]

JUDGE_FILE = Path(__file__).with_name("judge.json")
FEATURES = ("score", "strict", "two_sided", "min_best_word", "mean_best_word", "swap_similarity",
            "rare_share", "jaccard", "same_intent", "token_set", "one_sided")


@dataclass(frozen=True)
class WordStats:
    """What an index knows about words: how many cached questions hold each, and (embedding
    backends) how close the model puts two of them."""

    frequency: Callable[[str], int]
    documents: int
    similarity: Callable[[str, str], float] = lambda a, b: 0.0
    word_threshold: float = 1.01  # the strict guard's "same word" (no model: typos only)

    def generic(self, word: str) -> bool:
        found = self.frequency(word)
        return found >= 3 and found >= GENERIC_SHARE * self.documents

    def rarity(self, word: str) -> float:
        return math.log((1 + self.documents) / (1 + self.frequency(word)))


def pair_features(query: Analysis, cached: Analysis, score: float,
                  words: WordStats) -> list[float]:
    """The pair as numbers, in ``FEATURES`` order."""
    only_q = [w for w in query.content - cached.content if w not in cached.entities]
    only_c = [w for w in cached.content - query.content if w not in query.entities]

    def close(a: str, side: Analysis, b: str, other: Analysis) -> float:
        written_a, written_b = side.word(a), other.word(b)
        if same_word(a, b) or same_word(written_a, written_b):
            return 1.0
        return words.similarity(written_a, written_b)

    best = [max([close(w, query, o, cached) for o in cached.content], default=0.0)
            for w in only_q]
    best += [max([close(w, cached, o, query) for o in query.content], default=0.0)
             for w in only_c]
    swap = max([close(a, query, b, cached) for a in only_q for b in only_c], default=1.0)
    union = query.content | cached.content
    rare_alone = sum(words.rarity(w) for w in only_q + only_c)
    rare_all = sum(words.rarity(w) for w in union) or 1.0
    strict = word_guard(query, cached, words.generic,
                        lambda a, b: words.similarity(a, b) >= words.word_threshold)
    return [
        score,
        float(strict),
        float(bool(only_q) and bool(only_c)),
        min(best, default=1.0),
        sum(best) / len(best) if best else 1.0,
        swap,
        rare_alone / rare_all,
        len(query.content & cached.content) / len(union) if union else 1.0,
        float(query.intent == cached.intent),
        fuzz.token_set_ratio(query.normalized, cached.normalized) / 100,
        float(len(only_q) + len(only_c)),
    ]


@dataclass(frozen=True)
class PairJudge:
    """A logistic model over standardised pair features, with the threshold it was chosen for
    and the lowest score a candidate needs to be judged at all."""

    backend: str
    weights: tuple[float, ...]
    bias: float
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    threshold: float  # probability at or above which the pair is the same question
    floor: float  # candidates scoring under this are not judged
    trained_on: str

    def probability(self, features: Sequence[float]) -> float:
        z = self.bias + sum(w * (x - m) / s for w, x, m, s in
                            zip(self.weights, features, self.mean, self.scale, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def to_json(self) -> dict[str, object]:
        return {"backend": self.backend, "features": list(FEATURES),
                "weights": list(self.weights), "bias": self.bias, "mean": list(self.mean),
                "scale": list(self.scale), "threshold": self.threshold, "floor": self.floor,
                "trained_on": self.trained_on}

    @classmethod
    def from_json(cls, raw: dict) -> PairJudge:
        if tuple(raw["features"]) != FEATURES:
            raise ValueError(f"judge for {raw['backend']!r} was trained on other features")
        return cls(raw["backend"], tuple(raw["weights"]), float(raw["bias"]),
                   tuple(raw["mean"]), tuple(raw["scale"]), float(raw["threshold"]),
                   float(raw["floor"]), str(raw["trained_on"]))


def load_judges(path: Path = JUDGE_FILE) -> dict[str, PairJudge]:
    """The judges in ``path``, by backend; none when the file is missing."""
    if not path.is_file():
        return {}
    raw = json.loads(path.read_text(encoding="utf-8"))
    return {entry["backend"]: PairJudge.from_json(entry) for entry in raw["judges"]}
