"""Percentile tables of a run's per-request figures, split by cache outcome and model tier.

A single TTFT p95 over every stream mixes two populations — cache hits answered in a few
milliseconds and upstream answers taking hundreds — so ``summary.json`` also carries, for each
figure a user feels (TTFT, inter-token latency, full response, streaming speed), its p50, p90,
p95, p99 and mean over all streams, over hits, over misses and over each model tier, every one
with its 95 % interval, and the TTFT distribution of hits and of misses. ``report.html`` only
prints them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from loadtests.confidence import mean_interval, quantile_interval

__all__ = ["FIGURES", "QUANTILES", "breakdown", "tokens_per_second", "ttft_histogram"]

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
    "inter_token_ms": ("inter-token latency (mean per request)", "ms", lambda s: s["itl_ms"]),
    "full_response_s": ("full response", "s",
                        lambda s: None if s["total_ms"] is None else s["total_ms"] / 1000),
    "tokens_per_s": ("streaming speed (output tokens/s)", "tok/s", tokens_per_second),
}


def _groups(streams: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    groups: dict[str, list[Mapping[str, Any]]] = {"all": list(streams)}
    for outcome in ("hit", "miss"):
        groups[f"cache {outcome}"] = [s for s in streams if s["cache"] == outcome]
    for tier in sorted({s["model_tier"] for s in streams if s.get("model_tier")}):
        groups[f"tier {tier}"] = [s for s in streams if s.get("model_tier") == tier]
    return {name: members for name, members in groups.items() if members}


def _row(values: Sequence[float]) -> dict[str, Any]:
    def pair(interval: tuple[float, float] | None) -> list[float] | None:
        # Every figure here is a duration or a rate: an interval never reaches below zero.
        return None if interval is None else [round(max(0.0, interval[0]), 4),
                                              round(interval[1], 4)]

    ordered = sorted(values)
    row: dict[str, Any] = {"n": len(ordered)}
    for q in QUANTILES:
        rank = q * (len(ordered) - 1)
        low = int(rank)
        high = min(low + 1, len(ordered) - 1)
        value = ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
        row[f"p{round(q * 100)}"] = round(value, 4)
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
        for name, members in _groups(answered).items():
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
