"""``python -m loadtests cache-eval``: how often the cache hits, and whether its hits are right.

Replays seeded workload traffic through the real ``ChatCache`` with no upstream: a miss stores
the right answer's label as the answer, a hit is judged against the question's label. The tuning
and held-out parts run separately, each beside the same traffic through the exact tier alone,
so the figure shows what the variation and semantic tiers add. Recall counts the requests whose
right answer was already cached in their scope: how many of those were answered. Each semantic
backend (``--embeddings lexical,local,openai``) runs the same traffic, and then the synonym sets:
cached questions against rephrasings that need synonyms, and near-misses that must not hit.
``cache_eval_synonyms.yaml`` was written for the evaluation and its misses were read while the
lexicon grew; ``cache_eval_synonyms_unseen.yaml`` and ``…_unseen_2.yaml`` were written blind
(docs/cache.md), and no item of theirs was read to change the matcher. Exits 1 when precision
on any run is below the floor.
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
from pathlib import Path

import yaml

from loadtests.cli import HelpFormatter, exit_codes_epilog
from loadtests.workload import KINDS, PARTS, Workload
from service.cache import TIERS, Analyzer, CachedAnswer, CacheScope, ChatCache
from service.cache.backend import MemoryBackend
from service.cache.cache import embedder_from_settings
from service.cache.embeddings import Embedder, EmbeddingsUnavailable
from service.cache.pack import ENGLISH, DomainPack, load_pack
from service.cache.redis_backend import RedisBackend
from service.settings import Settings, SettingsError

__all__ = ["PRECISION_FLOOR", "SYNONYM_SETS", "EvalResult", "SynonymResult", "evaluate",
           "evaluate_synonyms", "main"]

PRECISION_FLOOR = 0.99
# Each set's name, as the table's column, and its file.
SYNONYM_SETS = {
    "synonyms": Path(__file__).with_name("cache_eval_synonyms.yaml"),
    "unseen": Path(__file__).with_name("cache_eval_synonyms_unseen.yaml"),
    "unseen-2": Path(__file__).with_name("cache_eval_synonyms_unseen_2.yaml"),
}
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


def memory_cache_factory(embedder: Embedder | None = None,
                         pack: DomainPack = ENGLISH) -> CacheFactory:

    def make(tiers: tuple[str, ...]) -> ChatCache:
        return ChatCache(MemoryBackend(3600, 100_000), max_entries=100_000, tiers=tiers,
                         embedder=embedder, analyzer=Analyzer(pack))
    return make


memory_cache = memory_cache_factory()


def redis_cache_factory(url: str, embedder: Embedder | None = None,
                        pack: DomainPack = ENGLISH) -> CacheFactory:

    def make(tiers: tuple[str, ...]) -> ChatCache:
        namespace = f"cache-eval-{uuid.uuid4().hex[:8]}"  # a fresh, empty cache per replay
        backend = RedisBackend(url, namespace, 3600, 100_000, timeout_ms=1000)
        return ChatCache(backend, namespace=namespace, max_entries=100_000, tiers=tiers,
                         embedder=embedder, analyzer=Analyzer(pack))
    return make


@dataclass
class SynonymResult:
    """Paraphrases and near-misses of the synonym set against one cache."""

    paraphrases: int = 0
    right_hits: int = 0
    wrong_hits: int = 0  # a paraphrase answered with another group's answer, or any near-miss hit
    examples: list[tuple[str, str]] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.right_hits / self.paraphrases if self.paraphrases else 0.0

    @property
    def precision(self) -> float:
        hits = self.right_hits + self.wrong_hits
        return self.right_hits / hits if hits else 1.0


def evaluate_synonyms(make_cache: CacheFactory, tiers: tuple[str, ...] = TIERS,
                      path: Path = SYNONYM_SETS["synonyms"]) -> SynonymResult:
    """Cache every group's question, then ask its paraphrases and near-misses."""
    groups = yaml.safe_load(path.read_text())
    result = SynonymResult()
    cache = make_cache(tiers)
    scope = CacheScope("public", "eval", "auto", "")
    try:
        for label, group in enumerate(groups):
            cache.store(group["question"], scope, CachedAnswer(
                group["question"], str(label), "eval", "fast", 0, 0, time.time()))
        for label, group in enumerate(groups):
            for question, expected in [(q, str(label)) for q in group["paraphrases"]] + [
                    (q, None) for q in group.get("near_misses", [])]:
                hit = cache.lookup(question, scope)
                result.paraphrases += expected is not None
                if hit is None:
                    continue
                if hit.entry.answer == expected:
                    result.right_hits += 1
                else:
                    result.wrong_hits += 1
                    result.examples.append((question, hit.entry.question))
    finally:
        cache.close()
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


def _embedder(name: str, args: argparse.Namespace) -> Embedder | None:
    settings = Settings.from_env().replace(
        cache_embeddings=name, embeddings_base_url=args.embeddings_base_url,
        **({"embeddings_path": args.embeddings_path} if args.embeddings_path else {}))
    return embedder_from_settings(settings)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests cache-eval", description=__doc__, formatter_class=HelpFormatter,
        epilog=exit_codes_epilog({0: f"precision >= {PRECISION_FLOOR:.0%} on every part",
                                  1: "precision below the floor on a part", 2: "bad options"}))
    parser.add_argument("--seed", type=int, default=7, help="seed of the replayed traffic")
    parser.add_argument("--requests", type=int, default=3000, help="requests per part")
    parser.add_argument("--redis-url", default=None, help="replay through Redis, not memory")
    parser.add_argument("--embeddings", default="lexical,local",
                        help="semantic backends to compare, comma-separated (lexical, local,"
                             " openai); one that cannot start is reported and skipped")
    parser.add_argument("--embeddings-base-url", default=None,
                        help="for openai: the /v1 endpoint (default: OPENAI_BASE_URL)")
    parser.add_argument("--embeddings-path", default=None, help="for local: the model folder")
    parser.add_argument("--parts", default=",".join(PARTS), help="workload parts to replay")
    parser.add_argument("--pack", default=None, help="domain pack")
    parser.add_argument("--synonyms-file", default=None,
                        help="a deployment's synonyms file (default: CHAT_CACHE_SYNONYMS)")
    parser.add_argument("--synonym-set", action="append", default=[], type=Path, metavar="YAML",
                        help="also measure this set of cached questions, rephrasings and"
                             " near-misses (the format of loadtests/cache_eval_synonyms.yaml);"
                             " repeatable, each a column named by its file")
    args = parser.parse_args(argv)
    missing = [str(path) for path in args.synonym_set if not path.is_file()]
    if missing:
        print(f"error: --synonym-set: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    try:
        synonyms_file = args.synonyms_file or Settings.from_env().cache_synonyms
        pack = load_pack(args.pack, synonyms_file)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"== pack {pack.name}: {pack.entries} rules over English")
    return _compare(args, pack)


def _compare(args: argparse.Namespace, pack: DomainPack) -> int:
    """Every backend over every part and synonym set, then the table."""
    sets = {**SYNONYM_SETS, **{path.stem: path for path in args.synonym_set}}
    workload = Workload.load()
    failed = False
    summary: list[str] = []
    exact_row: tuple[str, ...] | None = None
    for name in [n.strip() for n in args.embeddings.split(",") if n.strip()]:
        try:
            embedder = _embedder(name, args)
        except (EmbeddingsUnavailable, SettingsError) as exc:
            print(f"== {name}: skipped: {exc}")
            continue
        make = (redis_cache_factory(args.redis_url, embedder, pack) if args.redis_url
                else memory_cache_factory(embedder, pack))
        print(f"== semantic backend: {name}")
        cells: list[str] = []
        exact_cells: list[str] = []
        for part in [p for p in args.parts.split(",") if p]:
            result = evaluate(workload, part, args.requests, args.seed, make)
            print(report(result))
            failed |= result.precision < PRECISION_FLOOR
            cells.append(f"{result.recall:.1%} / {result.precision:.2%}")
            exact = _exact_only(workload, part, args.requests, args.seed, make)
            exact_cells.append(f"{exact.recall:.1%} / {exact.precision:.2%}")
        for set_name, path in sets.items():
            synonyms = evaluate_synonyms(make, path=path)
            failed |= synonyms.precision < PRECISION_FLOOR
            print(f"[{set_name}] {synonyms.paraphrases} paraphrases: recall"
                  f" {synonyms.recall:.1%}, precision {synonyms.precision:.2%}"
                  f" ({synonyms.wrong_hits} wrong hits)")
            for question, matched in synonyms.examples[:10]:
                print(f"  WRONG: {question!r} -> {matched!r}")
            cells.append(f"{synonyms.recall:.1%} / {synonyms.precision:.2%}")
        summary.append(f"| {name} | " + " | ".join(cells) + " |")
        if exact_row is None:
            exact_sets = [evaluate_synonyms(make, ("exact",), path)
                          for path in sets.values()]
            exact_row = (*exact_cells,
                         *(f"{e.recall:.1%} / {e.precision:.2%}" for e in exact_sets))
    if exact_row is not None:
        summary.append("| exact only | " + " | ".join(exact_row) + " |")
    parts = [p for p in args.parts.split(",") if p]
    print("\nrecall / precision")
    print("| semantic backend | " + " | ".join([*parts, *sets]) + " |")
    print("|---" * (len(parts) + len(sets) + 1) + "|")
    print("\n".join(summary))
    if failed:
        print(f"precision below {PRECISION_FLOOR:.0%} on at least one run", file=sys.stderr)
    return 1 if failed else 0


def _exact_only(workload: Workload, part: str, requests: int, seed: int,
                make_cache: CacheFactory) -> EvalResult:
    result = EvalResult(part)
    cache = make_cache(("exact",))
    try:
        _replay(workload, part, requests, seed, cache, result)
    finally:
        cache.close()
    return result
