"""``python -m loadtests cache-eval``: how often the cache hits, and whether its hits are right.

Replays seeded workload traffic through the real ``ChatCache`` with no upstream: a miss stores
the right answer's label as the answer, a hit is judged against the question's label. The tuning
and held-out parts run separately, each beside the same traffic through the exact tier alone,
so the figure shows what the variation and semantic tiers add. Exits 1 when precision on either
part is below the floor.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from loadtests.cli import HelpFormatter, exit_codes_epilog
from loadtests.workload import KINDS, PARTS, Workload
from service.cache import TIERS, CachedAnswer, CacheScope, ChatCache, history_digest
from service.cache.backend import MemoryBackend
from service.cache.redis_backend import RedisBackend

__all__ = ["PRECISION_FLOOR", "EvalResult", "evaluate", "main"]

PRECISION_FLOOR = 0.99
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
    exact_only_hits: int = 0
    false_examples: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def hit_rate(self) -> float:
        return self.hits / self.requests if self.requests else 0.0

    @property
    def precision(self) -> float:
        return (self.hits - self.false_hits) / self.hits if self.hits else 1.0

    @property
    def exact_only_hit_rate(self) -> float:
        return self.exact_only_hits / self.requests if self.requests else 0.0


def _replay(workload: Workload, part: str, requests: int, seed: int, cache: ChatCache,
            result: EvalResult | None) -> int:
    """Send ``requests`` questions through ``cache``; fill ``result``; return the hit count."""
    rng = random.Random(seed)
    seen: set[tuple[str, str]] = set()
    hits = sent = 0
    while sent < requests:
        history: list[dict[str, str]] = []
        for turn in workload.sample_session(rng, part):
            if sent >= requests:
                break
            sent += 1
            scope = CacheScope("public", "eval", "auto", history_digest(history))
            hit = cache.lookup(turn.question, scope)
            answer = hit.entry.answer if hit else turn.label
            if hit is None:
                cache.store(turn.question, scope, CachedAnswer(
                    turn.question, turn.label, "eval", "fast", 0, 0, time.time()))
            hits += hit is not None
            if result is not None:
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
            history += [{"role": "user", "content": turn.question},
                        {"role": "assistant", "content": answer}]
    return hits


def evaluate(workload: Workload, part: str, requests: int, seed: int,
             make_cache: CacheFactory) -> EvalResult:
    """The full figures for one part: all tiers, and the exact tier alone on the same traffic."""
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


def memory_cache(tiers: tuple[str, ...]) -> ChatCache:
    return ChatCache(MemoryBackend(3600, 100_000), max_entries=100_000, tiers=tiers)


def redis_cache_factory(url: str) -> CacheFactory:
    def make(tiers: tuple[str, ...]) -> ChatCache:
        namespace = f"cache-eval-{uuid.uuid4().hex[:8]}"  # a fresh, empty cache per replay
        backend = RedisBackend(url, namespace, 3600, 100_000, timeout_ms=1000)
        return ChatCache(backend, namespace=namespace, max_entries=100_000, tiers=tiers)
    return make


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
        f"  precision          {result.precision:7.2%}   ({result.false_hits} false hits)",
        "  make-up / hit rate " + "  ".join(
            f"{k} {_rate(result.by_kind[k], n):.0%}"
            f"/{_rate(result.hits_by_kind[k], result.by_kind[k]):.0%}"
            for k in KINDS),
    ]
    lines += [f"  FALSE: {q!r} -> {c!r} ({t})" for q, c, t in result.false_examples[:10]]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests cache-eval", description=__doc__, formatter_class=HelpFormatter,
        epilog=exit_codes_epilog({0: f"precision >= {PRECISION_FLOOR:.0%} on every part",
                                  1: "precision below the floor on a part", 2: "bad options"}))
    parser.add_argument("--seed", type=int, default=7, help="seed of the replayed traffic")
    parser.add_argument("--requests", type=int, default=3000, help="requests per part")
    parser.add_argument("--redis-url", default=None, help="replay through Redis, not memory")
    args = parser.parse_args(argv)
    workload = Workload.load()
    make = redis_cache_factory(args.redis_url) if args.redis_url else memory_cache
    failed = False
    for part in PARTS:
        result = evaluate(workload, part, args.requests, args.seed, make)
        print(report(result))
        failed |= result.precision < PRECISION_FLOOR
    if failed:
        print(f"precision below {PRECISION_FLOOR:.0%} on at least one part", file=sys.stderr)
    return 1 if failed else 0
