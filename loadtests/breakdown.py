"""Percentile tables of a run's per-request figures, split by cache outcome and model tier.

A single TTFT p95 over every stream mixes two populations — cache hits answered in a few
milliseconds and upstream answers taking hundreds — so ``summary.json`` also carries, for each
figure a user feels (TTFT, time per output token, full response, streaming speed), its p50,
p90, p95, p99 and mean over all streams, over hits, over misses and over each model tier, every
one with its 95 % bounds, and the TTFT distribution of hits and of misses. The two figures of
generation (time per output token, streaming speed) are over misses only: a cache hit replays
its tokens at once (346,144 tokens/s), which said nothing about the model and, mixed in, moved
the "all" row with the run's hit rate. ``report.html`` only prints them; k6-style thresholds
name a row by tag (``ttft_s{cache:miss}: p(99)<1.5``, ``loadtests.thresholds``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from loadtests.confidence import mean_interval, percentile, quantile_interval

__all__ = ["FIGURES", "GENERATION", "QUANTILES", "breakdown", "group_name", "tokens_per_second",
           "ttft_histogram"]

QUANTILES = (0.50, 0.90, 0.95, 0.99)
_HISTOGRAM_BINS = 40
_HISTOGRAM_LOW_S = 0.001


def tokens_per_second(sample: Mapping[str, Any]) -> float | None:
    """Output tokens over the time from the first token to the end: the speed text streams at."""
    ttft, total, tokens = sample["ttft_ms"], sample["total_ms"], sample["output_tokens"]
    if ttft is None or total is None or tokens < 2 or total <= ttft:
        return None
    return (tokens - 1) / ((total - ttft) / 1000)


# figure → (label, unit, value of one successful stream or None)
FIGURES: Mapping[str, tuple[str, str, Callable[[Mapping[str, Any]], float | None]]] = {
    "ttft_s": ("time to first token", "s",
               lambda s: None if s["ttft_ms"] is None else s["ttft_ms"] / 1000),
    "tpot_ms": ("time per output token after the first (TPOT, misses)", "ms",
                lambda s: s["itl_ms"]),
    "full_response_s": ("full response", "s",
                        lambda s: None if s["total_ms"] is None else s["total_ms"] / 1000),
    "tokens_per_s": ("streaming speed (output tokens/s, misses)", "tok/s", tokens_per_second),
}
# Figures of generation: measured over the answers the model generated (cache misses) only.
GENERATION = frozenset({"tpot_ms", "tokens_per_s"})


def group_name(figure: str, tag: str | None) -> str:
    """The breakdown row a k6-style tag names: ``cache:miss`` → ``cache miss``, ``tier:fast`` →
    ``tier fast``; no tag → ``all`` (for a figure of generation, every generated answer)."""
    if tag is None:
        return "cache miss" if figure in GENERATION else "all"
    return tag.replace(":", " ", 1)


def _groups(streams: Sequence[Mapping[str, Any]],
            generated_only: bool) -> dict[str, list[Mapping[str, Any]]]:
    if generated_only:
        streams = [s for s in streams if s["cache"] == "miss"]
    groups: dict[str, list[Mapping[str, Any]]] = {} if generated_only else {"all": list(streams)}
    for outcome in ("miss",) if generated_only else ("hit", "miss"):
        groups[f"cache {outcome}"] = [s for s in streams if s["cache"] == outcome]
    for tier in sorted({s["model_tier"] for s in streams if s.get("model_tier")}):
        groups[f"tier {tier}"] = [s for s in streams if s.get("model_tier") == tier]
    return {name: members for name, members in groups.items() if members}


def _row(values: Sequence[float]) -> dict[str, Any]:
    def pair(interval: tuple[float | None, float | None] | None) -> list[float | None] | None:
        # Every figure here is a duration or a rate: a bound never reaches below zero.
        if interval is None:
            return None
        low, high = interval
        return [None if low is None else round(max(0.0, low), 4),
                None if high is None else round(high, 4)]

    ordered = sorted(values)
    row: dict[str, Any] = {"n": len(ordered)}
    for q in QUANTILES:
        row[f"p{round(q * 100)}"] = round(percentile(ordered, q) or 0.0, 4)
        row[f"p{round(q * 100)}_ci"] = pair(quantile_interval(ordered, q))
    row["mean"] = round(sum(ordered) / len(ordered), 4)
    row["mean_ci"] = pair(mean_interval(ordered))
    return row


def breakdown(streams: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``{figure: {"label", "unit", "groups": {group: row}}}`` over successful streams."""
    answered = [s for s in streams if s["ok"]]
    tables: dict[str, Any] = {}
    for figure, (label, unit, value) in FIGURES.items():
        groups = {}
        for name, members in _groups(answered, figure in GENERATION).items():
            values = [v for v in map(value, members) if v is not None]
            if values:
                groups[name] = _row(values)
        tables[figure] = {"label": label, "unit": unit, "groups": groups}
    return tables


def ttft_histogram(hits_s: Sequence[float], misses_s: Sequence[float],
               target_s: float) -> dict[str, Any]:
    """TTFT counts of hits and of misses over shared log-spaced bins (1 ms to past the slowest
    and the target).

    Hits (milliseconds) and misses (hundreds of them) differ by orders of magnitude; linear bins
    would pile every hit into the first bar.
    """
    values = [*hits_s, *misses_s]
    low = _HISTOGRAM_LOW_S
    high = max([low * 10, target_s, *values]) * 1.25
    ratio = (high / low) ** (1 / _HISTOGRAM_BINS)
    edges = [low * ratio ** i for i in range(_HISTOGRAM_BINS + 1)]

    def counts(group: Sequence[float]) -> list[int]:
        out = [0] * _HISTOGRAM_BINS
        for value in group:
            index = 0 if value <= low else int(math.log(value / low) / math.log(ratio))
            out[min(_HISTOGRAM_BINS - 1, index)] += 1
        return out

    return {"edges_s": [round(e, 5) for e in edges], "hit": counts(hits_s),
            "miss": counts(misses_s), "scale": "log"}
