"""``python -m loadtests cache-calibrate``: choose the cache's operating point on your questions.

Give it labelled sets of your own product's questions (``--set``, the format of
``loadtests/cache_quality/sets/*.yaml``: each cached question with rephrasings that need its
answer and near-misses that do not) and, if you have one, your domain pack. For every semantic
backend and operating point it asks the sets once at the lowest threshold, draws the
precision/recall frontier that every threshold gives, and prints the settings that keep
``--min-precision`` with the most recall: environment variables for the service and the lines
for your pack's ``thresholds:``. The page ``frontier.html`` (offline) shows the curves.
A threshold chosen on a set fits that set: keep a second set to check it on (``cache-eval
--synonym-set``), as the project keeps its blind ones.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import ChoiceLoader, Environment, PackageLoader, StrictUndefined, select_autoescape

from loadtests.cache_quality.caches import CacheSpec, embedder
from loadtests.cache_quality.frontier import Point, best_point, frontier, point_at
from loadtests.cache_quality.sets import Asked, LabelledSet, ask, load_set
from loadtests.cli import HelpFormatter, exit_codes_epilog
from loadtests.report.charts import (
    COLOURS,
    HEIGHT,
    LEFT,
    PLOT_H,
    PLOT_W,
    TOP,
    Chart,
    Series,
    nice_ticks,
)
from loadtests.workload import PACK_FILE
from service.cache.embeddings import EmbeddingsUnavailable
from service.cache.matching import MODES
from service.cache.pack import DomainPack, load_pack
from service.settings import SettingsError

__all__ = ["Calibration", "calibrate", "main"]

_LOWEST = 1e-6  # a threshold every candidate clears: the set is asked once, all of it recorded


@dataclass(frozen=True)
class Calibration:
    """One backend and operating point over the sets: its frontier, today's and the best."""

    backend: str
    mode: str
    points: list[Point]
    default: Point  # at the threshold the service would use with this pack
    best: Point | None  # the most recall at the asked precision


def calibrate(pack: DomainPack, backend: str, mode: str, sets: Sequence[LabelledSet],
              min_precision: float) -> Calibration:
    asked: list[Asked] = []
    for labelled in sets:
        cache = CacheSpec(backend, mode, pack, threshold=_LOWEST).make()
        try:
            asked += ask(cache, labelled)
        finally:
            cache.close()
    default_cache = CacheSpec(backend, mode, pack).make()
    default_threshold = default_cache.index.threshold
    default_cache.close()
    paraphrases = sum(s.paraphrases for s in sets)
    points = frontier(asked, paraphrases)
    return Calibration(backend, mode, points, point_at(asked, paraphrases, default_threshold),
                       best_point(points, min_precision))


def _chart(results: Sequence[Calibration], min_precision: float) -> Chart:
    """Precision against recall, a line per backend and operating point."""
    def sx(r: float) -> float:
        return LEFT + r * PLOT_W

    y_low = min([0.5, *(p.precision for c in results for p in c.points)])
    ticks = [t for t in nice_ticks(y_low, 1.0) if t <= 1.0]

    def sy(p: float) -> float:
        return TOP + PLOT_H - (p - ticks[0]) / ((1.0 - ticks[0]) or 1.0) * PLOT_H

    chart = Chart("Precision against recall", "recall (rephrasings answered right)",
                  "precision", x_ticks=[(sx(t), f"{t:.0%}") for t in nice_ticks(0, 1.0)],
                  y_ticks=[(sy(t), f"{t:.0%}") for t in ticks], height=HEIGHT + 60,
                  plot_h=PLOT_H, note="each point is a threshold; black: the best at the"
                                      " asked precision")
    for i, result in enumerate(results):
        series = Series(f"{result.backend} · {result.mode}", COLOURS[i % len(COLOURS)],
                        dash="6 3" if result.mode == "balanced" else "")
        series.segments.append(" ".join(f"{sx(p.recall):.1f},{sy(p.precision):.1f}"
                                        for p in result.points))
        series.points = [(sx(p.recall), sy(p.precision),
                          f"{series.name}, threshold {p.threshold:.4g}: recall {p.recall:.1%},"
                          f" precision {p.precision:.1%}") for p in result.points]
        chart.series.append(series)
    chosen = Series(f"best at {min_precision:.0%}", "#222")
    chosen.points = [(sx(r.best.recall), sy(r.best.precision),
                      f"{r.backend} · {r.mode}: threshold {r.best.threshold:.4g}")
                     for r in results if r.best is not None]
    chart.series.append(chosen)
    chart.h_lines.append((sy(min_precision), f"asked precision {min_precision:.0%}"))
    return chart


def _env() -> Environment:
    return Environment(loader=ChoiceLoader([PackageLoader("loadtests.cache_quality", ""),
                                            PackageLoader("loadtests.report", "")]),
                       undefined=StrictUndefined, autoescape=select_autoescape(["html"]),
                       trim_blocks=True, lstrip_blocks=True)


def render_page(results: Sequence[Calibration], pack: DomainPack, sets: Sequence[LabelledSet],
                min_precision: float) -> str:
    return _env().get_template("frontier.html").render(
        results=results, chart=_chart(results, min_precision), pack=pack,
        sets=sets, min_precision=min_precision,
        made=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))


def _settings(result: Calibration) -> str:
    assert result.best is not None
    return (f"CHAT_CACHE_EMBEDDINGS={result.backend} CHAT_CACHE_MATCH={result.mode}"
            f" CHAT_CACHE_SEMANTIC_THRESHOLD={result.best.threshold:.4g}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests cache-calibrate", description=__doc__,
        formatter_class=HelpFormatter,
        epilog=exit_codes_epilog({0: "a setting meets the precision", 1: "none does",
                                  2: "bad options or files"}))
    parser.add_argument("--set", action="append", required=True, type=Path, metavar="YAML",
                        dest="sets", help="a labelled set of your questions; repeatable")
    parser.add_argument("--pack", default="none",
                        help="your domain pack ('none', 'reference' or a file)")
    parser.add_argument("--min-precision", type=float, default=0.97,
                        help="the precision the chosen setting must keep")
    parser.add_argument("--embeddings", default="lexical,local",
                        help="semantic backends to try; one that cannot start is skipped")
    parser.add_argument("--match", default=",".join(MODES), help="operating points to try")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for frontier.html (default runs/calibrate-<time>)")
    args = parser.parse_args(argv)
    try:
        sets = [load_set(path) for path in args.sets]
        pack = load_pack(None if args.pack == "none" else
                         (PACK_FILE if args.pack == "reference" else args.pack))
    except (SettingsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    results: list[Calibration] = []
    for backend in [b.strip() for b in args.embeddings.split(",") if b.strip()]:
        try:
            embedder(backend)
        except (EmbeddingsUnavailable, SettingsError) as exc:
            print(f"{backend}: skipped: {exc}")
            continue
        for mode in [m for m in args.match.split(",") if m in MODES]:
            results.append(calibrate(pack, backend, mode, sets, args.min_precision))
    paraphrases = sum(s.paraphrases for s in sets)
    print(f"pack {pack.name}; {paraphrases} rephrasings and"
          f" {sum(len(g.near_misses) for s in sets for g in s.groups)} near-misses in"
          f" {', '.join(s.name for s in sets)}")
    print(f"| backend | match | default: recall / precision | best at >= {args.min_precision:.0%}"
          " | threshold |")
    print("|---|---|---|---|---|")
    for r in results:
        best = (f"{r.best.recall:.1%} / {r.best.precision:.1%}", f"{r.best.threshold:.4g}"
                ) if r.best else ("none", "—")
        print(f"| {r.backend} | {r.mode} | {r.default.recall:.1%} / {r.default.precision:.1%}"
              f" | {best[0]} | {best[1]} |")
    meeting = [r for r in results if r.best is not None]
    out = args.out or Path("runs") / f"calibrate-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    (out / "frontier.html").write_text(render_page(results, pack, sets, args.min_precision))
    print(f"frontier: {out / 'frontier.html'}")
    if not meeting:
        print(f"no setting keeps precision >= {args.min_precision:.0%} with any recall")
        return 1
    chosen = max(meeting, key=lambda r: (r.best.recall if r.best else 0.0,
                                         r.mode == "strict"))
    print(f"most recall at >= {args.min_precision:.0%}: {_settings(chosen)}")
    print(f"  or in your pack: thresholds: {{{chosen.backend}:"
          f" {{{chosen.mode}: {chosen.best.threshold if chosen.best else 0:.4g}}}}}")
    return 0
