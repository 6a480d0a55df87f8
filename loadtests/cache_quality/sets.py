"""Labelled question sets: cached questions, rephrasings that must hit, near-misses that must not.

A set is a YAML list of groups, ``question`` (cached), ``paraphrases`` (the same answer) and
``near_misses`` (another answer) — the format of ``sets/*.yaml`` and of a team's own set.
``ask`` caches every group's question and asks every other question once, recording the best
hit's tier and confidence, so any threshold's precision and recall follow without asking
again (``frontier.py``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from service.cache import CachedAnswer, CacheScope, ChatCache

__all__ = ["REFERENCE_SETS", "Asked", "Group", "LabelledSet", "ask", "load_set"]

SETS_DIR = Path(__file__).with_name("sets")
# The reference product's sets, by column name; docs/cache.md says what was seen of each.
REFERENCE_SETS = {name: SETS_DIR / f"{name}.yaml" for name in ("synonyms", "unseen", "unseen-2")}
_SCOPE = CacheScope("public", "eval", "auto", "")


@dataclass(frozen=True)
class Group:
    """One cached question with the questions that need its answer and those that do not."""

    question: str
    paraphrases: tuple[str, ...]
    near_misses: tuple[str, ...]


@dataclass(frozen=True)
class LabelledSet:
    name: str
    groups: tuple[Group, ...]

    @property
    def paraphrases(self) -> int:
        return sum(len(g.paraphrases) for g in self.groups)


def load_set(path: Path) -> LabelledSet:
    """A set file; ``ValueError`` naming what is wrong with it."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: cannot read it ({exc})") from exc
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"{path}: expected a list of groups (question, paraphrases,"
                         " near_misses)")
    groups = []
    for number, item in enumerate(raw, 1):
        if not isinstance(item, dict) or not isinstance(item.get("question"), str):
            raise ValueError(f"{path}: group {number} has no 'question'")
        groups.append(Group(item["question"], tuple(map(str, item.get("paraphrases") or ())),
                            tuple(map(str, item.get("near_misses") or ()))))
    return LabelledSet(path.stem, tuple(groups))


@dataclass(frozen=True)
class Asked:
    """One question asked of the cache: whether it should hit, and what it got."""

    question: str
    expected: int | None  # the group whose answer is right; None for a near-miss
    got: int | None  # the group whose answer came back; None for a miss
    tier: str | None
    confidence: float  # 1.0 on the exact and variation tiers

    @property
    def right(self) -> bool:
        return self.got is not None and self.got == self.expected


def ask(cache: ChatCache, labelled: LabelledSet) -> list[Asked]:
    """Cache each group's question, then ask its paraphrases and near-misses."""
    for label, group in enumerate(labelled.groups):
        cache.store(group.question, _SCOPE, CachedAnswer(
            group.question, str(label), "eval", "fast", 0, 0, time.time()))
    asked = []
    for label, group in enumerate(labelled.groups):
        questions = [(q, label) for q in group.paraphrases]
        questions += [(q, None) for q in group.near_misses]
        for question, expected in questions:
            hit = cache.lookup(question, _SCOPE)
            asked.append(Asked(question, expected, int(hit.entry.answer) if hit else None,
                               hit.tier if hit else None, hit.confidence if hit else 0.0))
    return asked
