"""``python -m loadtests cache-judge``: train the pair judge of the ``balanced`` operating point.

The judge learns from the reference workload's **tuning part only** — its canonical questions,
their rephrasings and near-misses, and one-off questions — never from held-out or the labelled
sets it is measured on. Pairs come from real caches: each phrasing is asked of a cache that
holds the others, the index picks its candidates as it does in service, and every candidate the
hard guards let through is one example (features from ``service.cache.judge``; label: same
answer or not). A logistic model per semantic backend is fitted on standardised features; its
threshold is the lowest probability at which cross-validated lookups (folds by canonical
question) keep the asked precision. The result is ``service/cache/judge.json``; ``--check``
says whether the shipped file is what this command makes.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from loadtests.cache_quality.caches import CacheSpec
from loadtests.cli import HelpFormatter, exit_codes_epilog
from loadtests.workload import PACK_FILE, Workload, typed
from service.cache import CachedAnswer, CacheScope
from service.cache.analyzer import Analysis
from service.cache.embeddings import EmbeddingsUnavailable
from service.cache.guards import hard_guards
from service.cache.judge import FEATURES, JUDGE_FILE, PairJudge, WordStats, pair_features
from service.cache.matching import OperatingPoint
from service.cache.pack import load_pack
from service.settings import SettingsError

__all__ = ["Examples", "collect", "fit", "main"]

# Candidates scoring under this are never judged: low enough that the right one is nearly
# always among them (the index still takes only its best few).
FLOORS = {"lexical": 0.15, "local": 0.30}
_SCOPE = CacheScope("public", "judge", "auto", "")
_TYPED_COPIES = 2
_ONE_OFFS = 200


@dataclass
class Examples:
    """Judged pairs: features, whether the answers agree, and which question asked."""

    rows: list[list[float]] = field(default_factory=list)
    same: list[int] = field(default_factory=list)
    query: list[int] = field(default_factory=list)  # one id per asked question
    group: list[str] = field(default_factory=list)  # folds never split a canonical question


class _Recorder(OperatingPoint):
    """An operating point that judges nothing and keeps every pair it was shown."""

    def __init__(self, floor: float, word_threshold: float) -> None:
        super().__init__("balanced", 2.0, floor, word_threshold)
        object.__setattr__(self, "seen", [])

    def accept(self, query: Analysis, cached: Analysis, score: float | Callable[[], float],
               words: WordStats, any_form: bool) -> tuple[float, float] | None:
        if not hard_guards(query, cached, any_form):
            return None
        value = score() if callable(score) else score
        if value >= self.floor:
            self.seen.append((cached.source, pair_features(query, cached, value, words)))
        return None


def _phrasings(workload: Workload, part: str) -> dict[str, list[str]]:
    return {c.id: [c.question, *c.variations] for c in workload.part(part)}


def collect(backend: str, part: str = "tuning", seed: int = 7) -> Examples:
    """Judged pairs of ``part``, from two caches that each hold half of every canonical
    question's phrasings (and half of the one-off questions) and are asked the other half."""
    workload = Workload.load()
    pack = load_pack(PACK_FILE)
    rng = random.Random(seed)
    phrasings = _phrasings(workload, part)
    near = {c.id: c.near_misses for c in workload.part(part)}
    one_offs = sorted(workload.long_tail[part])
    rng.shuffle(one_offs)
    one_offs = one_offs[: 2 * _ONE_OFFS]
    examples = Examples()
    asked_id = 0
    for fold in (0, 1):
        cache = CacheSpec(backend, "strict", pack).make()
        recorder = _Recorder(FLOORS[backend], cache.index.point.word_threshold)
        cache.index.point = recorder  # the index now shows it every candidate it would judge
        labels: dict[str, str] = {}
        questions: list[tuple[str, str, str]] = []  # (question, label, group)
        for cid, texts in phrasings.items():
            for i, text in enumerate(texts):
                if i % 2 == fold:
                    labels[text] = cid
                else:
                    questions.append((text, cid, cid))
            questions += [(q, label, cid) for q, label in near[cid]]
        for i, text in enumerate(one_offs):
            if i % 2 == fold:
                labels[text] = f"new:{text}"
            else:
                questions.append((text, f"new:{text}", "one-off"))
        for text, label in labels.items():
            cache.store(text, _SCOPE, CachedAnswer(text, label, "judge", "fast", 0, 0, 0.0))
        for question, label, group in questions:
            typings = (typed(question, rng) for _ in range(_TYPED_COPIES))
            for asked in dict.fromkeys([question, *typings]):
                recorder.seen.clear()
                cache.lookup(asked, _SCOPE, count=False)
                for cached_text, row in recorder.seen:
                    examples.rows.append(row)
                    examples.same.append(int(labels[cached_text] == label))
                    examples.query.append(asked_id)
                    examples.group.append(group)
                asked_id += 1
        cache.close()
    return examples


def _lookups(probability: np.ndarray, examples: Examples) -> list[tuple[float, bool]]:
    """Each asked question's best candidate: (its probability, whether it is right)."""
    best: dict[int, tuple[float, bool]] = {}
    for p, same, query in zip(probability, examples.same, examples.query, strict=True):
        if query not in best or p > best[query][0]:
            best[query] = (float(p), bool(same))
    return list(best.values())


def _threshold(lookups: list[tuple[float, bool]], precision: float) -> float:
    """The lowest probability above which every higher threshold keeps ``precision``."""
    ranked = sorted(lookups, reverse=True)
    right = wrong = 0
    chosen = 1.0
    for p, ok in ranked:
        right += ok
        wrong += not ok
        if right / (right + wrong) >= precision:
            chosen = p
        else:
            break
    return chosen


def fit(examples: Examples, precision: float, backend: str) -> PairJudge:
    """A logistic judge on every example, its threshold from 5-fold grouped cross-validation."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold

    x = np.asarray(examples.rows, dtype=float)
    y = np.asarray(examples.same)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    held_out = np.zeros(len(y))
    for train, test in GroupKFold(n_splits=5).split(z, y, examples.group):
        model = LogisticRegression(max_iter=5000).fit(z[train], y[train])
        held_out[test] = model.predict_proba(z[test])[:, 1]
    model = LogisticRegression(max_iter=5000).fit(z, y)
    return PairJudge(
        backend=backend, weights=tuple(round(float(w), 6) for w in model.coef_[0]),
        bias=round(float(model.intercept_[0]), 6), mean=tuple(round(float(m), 6) for m in mean),
        scale=tuple(round(float(s), 6) for s in scale),
        threshold=round(_threshold(_lookups(held_out, examples), precision), 4),
        floor=FLOORS[backend],
        trained_on=f"questions.yaml tuning part: {len(y)} judged pairs from"
                   f" {len(set(examples.query))} asked questions; threshold for cross-validated"
                   f" lookup precision >= {precision}")


def _same(shipped: object, made: object) -> bool:
    """Equal, numbers within float noise: the local model, distilled on each machine, moves
    features in their sixth decimal from one CPU to another; a changed pair or word does more."""
    if isinstance(shipped, dict) and isinstance(made, dict):
        return shipped.keys() == made.keys() and all(_same(shipped[k], made[k]) for k in made)
    if isinstance(shipped, list) and isinstance(made, list):
        return len(shipped) == len(made) and all(map(_same, shipped, made))
    if isinstance(shipped, float | int) and isinstance(made, float | int):
        return math.isclose(shipped, made, rel_tol=1e-3, abs_tol=1e-4)
    return shipped == made


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests cache-judge", description=__doc__,
        formatter_class=HelpFormatter,
        epilog=exit_codes_epilog({0: "written (or, with --check, the same)",
                                  1: "--check: the shipped judge differs", 2: "bad options"}))
    parser.add_argument("--backends", default="lexical,local",
                        help="semantic backends to train a judge for")
    parser.add_argument("--precision", type=float, default=0.97,
                        help="cross-validated lookup precision the threshold must keep")
    parser.add_argument("--seed", type=int, default=7, help="seed of the typed copies")
    parser.add_argument("--out", type=Path, default=JUDGE_FILE, help="where to write")
    parser.add_argument("--check", action="store_true",
                        help="compare with --out instead of writing it")
    args = parser.parse_args(argv)
    judges = []
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        if backend not in FLOORS:
            print(f"error: no judge for {backend!r} (choose from {', '.join(FLOORS)})",
                  file=sys.stderr)
            return 2
        try:
            examples = collect(backend, seed=args.seed)
        except (EmbeddingsUnavailable, SettingsError) as exc:
            print(f"error: {backend}: {exc}", file=sys.stderr)
            return 2
        judge = fit(examples, args.precision, backend)
        print(f"{backend}: {len(examples.same)} pairs ({sum(examples.same)} same answer),"
              f" threshold {judge.threshold}")
        print("  " + "  ".join(f"{name} {w:+.2f}" for name, w in zip(FEATURES, judge.weights,
                                                                  strict=True)))
        judges.append(judge.to_json())
    text = json.dumps({"judges": judges}, indent=1) + "\n"
    if args.check:
        same = args.out.is_file() and _same(json.loads(args.out.read_text()), json.loads(text))
        print(f"{args.out}: {'as this command makes it' if same else 'differs'}")
        return 0 if same else 1
    args.out.write_text(text)
    print(f"wrote {args.out}")
    return 0
