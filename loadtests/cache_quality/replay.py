"""Replays of the reference workload through a cache: hit rate, recall and precision.

Seeded sessions of ``questions.yaml`` (the traffic ``make load`` sends) go through a real
``ChatCache`` with no upstream: a miss stores the right answer's label as the answer, a hit is
judged against the question's label. Each part also runs through the exact tier alone, so the
figure shows what the variation and semantic tiers add. Recall counts the requests whose right
answer was already cached in their scope: how many of those were answered right.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from loadtests.workload import KINDS, Workload
from service.cache import TIERS, CachedAnswer, CacheScope, ChatCache

__all__ = ["CacheFactory", "EvalResult", "evaluate", "report"]

CacheFactory = Callable[[tuple[str, ...]], ChatCache]


@dataclass
class EvalResult:
    """The tallies of one replayed part (tuning or held-out) of the workload."""

    part: str
    requests: int = 0
    hits: int = 0
    false_hits: int = 0
    by_tier: Counter[str] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)
    hits_by_kind: Counter[str] = field(default_factory=Counter)
    identical_repeats: int = 0  # same text in the same conversation state as an earlier request
    answerable: int = 0  # requests whose right answer was already cached in their scope
    right_answerable_hits: int = 0
    exact_only_hits: int = 0
    false_examples: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def hit_rate(self) -> float:
        return self.hits / self.requests if self.requests else 0.0

    @property
    def precision(self) -> float:
        return (self.hits - self.false_hits) / self.hits if self.hits else 1.0

    @property
    def recall(self) -> float:
        return self.right_answerable_hits / self.answerable if self.answerable else 0.0

    @property
    def exact_only_hit_rate(self) -> float:
        return self.exact_only_hits / self.requests if self.requests else 0.0


def _replay(workload: Workload, part: str, requests: int, seed: int, cache: ChatCache,
            result: EvalResult | None) -> int:
    """Send ``requests`` questions through ``cache``; fill ``result``; return the hit count."""
    rng = random.Random(seed)
    seen: set[tuple[str, str]] = set()
    cached: set[tuple[str, str]] = set()  # (scope key, answer label) stored so far
    hits = sent = 0
    while sent < requests:
        history: list[dict[str, str]] = []
        for turn in workload.sample_session(rng, part):
            if sent >= requests:
                break
            sent += 1
            scope = CacheScope("public", "eval", "auto", cache.analyzer.history_digest(history))
            hit = cache.lookup(turn.question, scope)
            answer = hit.entry.answer if hit else turn.label
            slot = (ChatCache.scope_key(scope, cache.analyzer.analyse(turn.question)), turn.label)
            if hit is None:
                cache.store(turn.question, scope, CachedAnswer(
                    turn.question, turn.label, "eval", "fast", 0, 0, time.time()))
            hits += hit is not None
            if result is not None:
                answerable = slot in cached
                result.answerable += answerable
                result.right_answerable_hits += (
                    answerable and hit is not None and hit.entry.answer == turn.label)
                result.requests += 1
                result.by_kind[turn.kind] += 1
                result.identical_repeats += (scope.context, turn.question) in seen
                seen.add((scope.context, turn.question))
                if hit is not None:
                    result.hits += 1
                    result.hits_by_kind[turn.kind] += 1
                    result.by_tier[hit.tier] += 1
                    if hit.entry.answer != turn.label:
                        result.false_hits += 1
                        result.false_examples.append(
                            (turn.question, hit.entry.question, hit.tier))
            cached.add(slot)
            history += [{"role": "user", "content": turn.question},
                        {"role": "assistant", "content": answer}]
    return hits


def evaluate(workload: Workload, part: str, requests: int, seed: int,
             make_cache: CacheFactory) -> EvalResult:
    """The figures for one part: all tiers, and the exact tier alone on the same traffic."""
    result = EvalResult(part)
    for tiers, target in ((TIERS, result), (("exact",), None)):
        cache = make_cache(tiers)
        try:
            hits = _replay(workload, part, requests, seed, cache, target)
        finally:
            cache.close()
        if target is None:
            result.exact_only_hits = hits
    return result


def _rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def report(result: EvalResult) -> str:
    n = result.requests
    lines = [
        f"[{result.part}] {n} requests",
        f"  hit rate           {result.hit_rate:7.1%}   ({result.hits} hits)",
        "  by tier            " + "  ".join(
            f"{t} {result.by_tier[t] / n:.1%}" for t in TIERS),
        f"  exact tier alone   {result.exact_only_hit_rate:7.1%}",
        f"  identical repeats  {result.identical_repeats / n:7.1%} of requests",
        f"  recall             {result.recall:7.1%}   (of {result.answerable} answerable)",
        f"  precision          {result.precision:7.2%}   ({result.false_hits} false hits)",
        "  make-up / hit rate " + "  ".join(
            f"{k} {_rate(result.by_kind[k], n):.0%}"
            f"/{_rate(result.hits_by_kind[k], result.by_kind[k]):.0%}"
            for k in KINDS),
    ]
    lines += [f"  FALSE: {q!r} -> {c!r} ({t})" for q, c, t in result.false_examples[:10]]
    return "\n".join(lines)
