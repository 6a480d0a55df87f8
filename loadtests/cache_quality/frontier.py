"""The precision/recall frontier of one operating point over labelled questions.

A set asked once at the lowest threshold (``sets.ask``) says, for every question, which answer
its best candidate had and how confident the operating point was; raising the threshold only
turns the least confident semantic hits into misses (exact and variation hits stay: their
confidence is 1.0). So every threshold's precision and recall follow from one asking.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from loadtests.cache_quality.sets import Asked

__all__ = ["Point", "best_point", "frontier", "point_at"]


@dataclass(frozen=True)
class Point:
    """Precision and recall at one threshold."""

    threshold: float
    recall: float
    precision: float
    hits: int
    wrong: int


def point_at(asked: Sequence[Asked], paraphrases: int, threshold: float) -> Point:
    hits = [a for a in asked if a.got is not None and a.confidence >= threshold]
    right = sum(a.right for a in hits)
    return Point(threshold, right / paraphrases if paraphrases else 0.0,
                 right / len(hits) if hits else 1.0, len(hits), len(hits) - right)


def frontier(asked: Sequence[Asked], paraphrases: int) -> list[Point]:
    """One point per distinct confidence a hit had, strictest first."""
    levels = sorted({a.confidence for a in asked if a.got is not None}, reverse=True)
    return [point_at(asked, paraphrases, level) for level in levels]


def best_point(points: Sequence[Point], min_precision: float) -> Point | None:
    """The most recall at ``min_precision`` or better; of equals, the strictest threshold."""
    meeting = [p for p in points if p.precision >= min_precision]
    return max(meeting, key=lambda p: (p.recall, p.threshold), default=None)
