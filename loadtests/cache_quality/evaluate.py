"""``python -m loadtests cache-eval``: how often the cache hits, and whether its hits are right.

Every combination asked for — domain pack (none, and the reference workload's), operating point
(strict, balanced) and semantic backend (lexical, local; openai with an endpoint) — replays the
workload's tuning and held-out parts and asks the labelled sets (sets/*.yaml, plus any
``--synonym-set``), each through a fresh cache built as the service builds its own. It ends with
one table of recall / precision. Which sets anything was tuned on is in docs/cache.md:
tuning and "synonyms" were read while the matcher and the reference pack grew; held-out,
"unseen" and "unseen-2" never were. Exits 1 when an operating point misses its precision floor
(strict 0.99, balanced 0.97) on a set nobody tuned on.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from loadtests.cache_quality.caches import CacheSpec, embedder
from loadtests.cache_quality.replay import evaluate, report
from loadtests.cache_quality.sets import REFERENCE_SETS, LabelledSet, ask, load_set
from loadtests.cli import HelpFormatter, exit_codes_epilog
from loadtests.workload import PACK_FILE, PARTS, Workload
from service.cache.embeddings import EmbeddingsUnavailable
from service.cache.matching import MODES
from service.cache.pack import DomainPack, load_pack
from service.settings import SettingsError

__all__ = ["FLOORS", "SEEN", "main"]

FLOORS = {"strict": 0.99, "balanced": 0.97}
# Columns whose questions were read while the matcher or the reference pack were changed.
SEEN = frozenset({"tuning", "synonyms"})


@dataclass(frozen=True)
class Cell:
    recall: float
    precision: float
    hits: int

    def __str__(self) -> str:
        precision = f"{self.precision:.2%}" if self.hits else "—"
        return f"{self.recall:.1%} / {precision}"


def _packs(names: Sequence[str]) -> list[DomainPack]:
    return [load_pack(None if name == "none" else (PACK_FILE if name == "reference" else name))
            for name in names]


def _ask_set(spec: CacheSpec, labelled: LabelledSet, tiers: tuple[str, ...] | None = None
             ) -> tuple[Cell, list[tuple[str, int | None, int | None]]]:
    cache = spec.make(tiers) if tiers else spec.make()
    try:
        asked = ask(cache, labelled)
    finally:
        cache.close()
    hits = [a for a in asked if a.got is not None]
    right = sum(a.right for a in hits)
    wrong = [(a.question, a.expected, a.got) for a in hits if not a.right]
    recall = right / labelled.paraphrases if labelled.paraphrases else 0.0
    return Cell(recall, right / len(hits) if hits else 1.0, len(hits)), wrong


def _row(spec: CacheSpec, args: argparse.Namespace, workload: Workload,
         sets: dict[str, LabelledSet], tiers: tuple[str, ...] | None = None) -> dict[str, Cell]:
    cells: dict[str, Cell] = {}
    print(f"== {spec.label if tiers is None else spec.pack.name + ' · exact tier only'}")
    for part in args.parts:
        result = evaluate(workload, part, args.requests, args.seed,
                          (lambda t: spec.make(tiers)) if tiers else spec.make)
        if args.verbose:
            print(report(result))
        cells[part] = Cell(result.recall, result.precision, result.hits)
    for name, labelled in sets.items():
        cells[name], wrong = _ask_set(spec, labelled, tiers)
        for question, _, got in wrong[: 10 if args.verbose else 3]:
            matched = labelled.groups[got].question if got is not None else "?"
            print(f"  [{name}] WRONG: {question!r} -> {matched!r}")
    print("  " + "  ".join(f"{k} {v}" for k, v in cells.items()))
    return cells


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests cache-eval", description=__doc__, formatter_class=HelpFormatter,
        epilog=exit_codes_epilog({0: "every operating point at its precision floor on every"
                                     " set nobody tuned on",
                                  1: "a floor missed", 2: "bad options"}))
    parser.add_argument("--seed", type=int, default=7, help="seed of the replayed traffic")
    parser.add_argument("--requests", type=int, default=3000, help="requests per part")
    parser.add_argument("--parts", default=",".join(PARTS), help="workload parts to replay")
    parser.add_argument("--pack", action="append", default=None, metavar="PACK",
                        help="'none', 'reference' or a pack file; repeatable"
                             " (default: none and reference)")
    parser.add_argument("--match", default=",".join(MODES),
                        help="operating points to compare (strict, balanced)")
    parser.add_argument("--embeddings", default="lexical,local",
                        help="semantic backends to compare (lexical, local, openai); one that"
                             " cannot start is reported and skipped")
    parser.add_argument("--embeddings-base-url", default=None,
                        help="for openai: the /v1 endpoint (default: OPENAI_BASE_URL)")
    parser.add_argument("--embeddings-path", default=None, help="for local: the model folder")
    parser.add_argument("--redis-url", default=None, help="replay through Redis, not memory")
    parser.add_argument("--synonym-set", action="append", default=[], type=Path, metavar="YAML",
                        help="also ask this labelled set (question, paraphrases, near_misses);"
                             " repeatable, each a column named by its file")
    parser.add_argument("--verbose", action="store_true", help="per-part detail and examples")
    args = parser.parse_args(argv)
    args.parts = [p for p in args.parts.split(",") if p]
    try:
        sets = {name: load_set(path) for name, path in REFERENCE_SETS.items()}
        sets.update({path.stem: load_set(path) for path in args.synonym_set})
        packs = _packs(args.pack or ["none", "reference"])
        modes = [m for m in args.match.split(",") if m]
        if set(modes) - set(MODES):
            raise SettingsError(f"--match {args.match!r}: choose from {', '.join(MODES)}")
    except (SettingsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    workload = Workload.load()
    columns = [*args.parts, *sets]
    table: list[tuple[str, str, str, dict[str, Cell]]] = []
    failed = []
    for pack in packs:
        print(f"== pack {pack.name}: {pack.entries} rules over English")
        for backend in [b.strip() for b in args.embeddings.split(",") if b.strip()]:
            try:
                embedder(backend, args.embeddings_base_url, args.embeddings_path)
            except (EmbeddingsUnavailable, SettingsError) as exc:
                print(f"== {backend}: skipped: {exc}")
                continue
            for mode in modes:
                spec = CacheSpec(backend, mode, pack, redis_url=args.redis_url,
                                 base_url=args.embeddings_base_url,
                                 model_path=args.embeddings_path)
                cells = _row(spec, args, workload, sets)
                table.append((pack.name, mode, backend, cells))
                failed += [f"{spec.label} on {name}: {cell.precision:.2%}"
                           for name, cell in cells.items()
                           if name not in SEEN and cell.precision < FLOORS[mode]]
        spec = CacheSpec("lexical", "strict", pack, redis_url=args.redis_url)
        table.append((pack.name, "exact tier only", "—",
                      _row(spec, args, workload, sets, ("exact",))))
    print(f"\nrecall / precision, seed {args.seed}, {args.requests} requests a part"
          f" (seen while tuning: {', '.join(sorted(SEEN & set(columns)))})")
    print("| pack | match | backend | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 3) + "|")
    for pack_name, mode, backend, cells in table:
        print(f"| {pack_name} | {mode} | {backend} | "
              + " | ".join(str(cells[c]) for c in columns) + " |")
    for line in failed:
        print(f"precision floor missed: {line}", file=sys.stderr)
    return 1 if failed else 0
