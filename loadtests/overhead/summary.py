"""Every figure of ``summary.json``, derived in one place from the raw tallies of a run.

The writers (Markdown, HTML) and the CI gate read only what this module produces, so a figure
means the same wherever it appears.
"""

from __future__ import annotations

import statistics
from typing import Any

from loadtests.confidence import percentile

from .bench import PointTallies, Tally
from .config import (
    DIRECT,
    SHORT,
    TELEMETRY_OFF,
    TELEMETRY_ON,
    THROUGH,
    TRANSPORT_HTTPX,
    TRANSPORT_LEAN,
    OverheadConfig,
    nginx_side,
)
from .stats import per_answer_ms

__all__ = ["cpu_ratio", "derive_point", "fixed_cost", "hit_cpu_ratio", "side_figures"]


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


def side_figures(tally: Tally) -> dict[str, Any]:
    """Counts, TTFT percentiles, answers/s and CPU per answer of one side (misses or hits)."""
    cpu = {name: per_answer_ms(seconds, tally.answers) for name, seconds in tally.cpu_s.items()}
    return {
        "answers": tally.answers,
        "errors": sum(tally.errors.values()),
        "error_kinds": dict(tally.errors),
        "cache": dict(tally.cache),
        "tokens_per_answer": round(tally.tokens / tally.answers, 2) if tally.answers else None,
        "ttft_ms": {"p50": _ms(percentile(tally.ttfts_s, 0.50)),
                    "p99": _ms(percentile(tally.ttfts_s, 0.99))},
        "answers_per_s": round(statistics.fmean(tally.answers_per_s), 2) if tally.answers_per_s
        else None,
        "cpu_ms_per_answer": {name: None if value is None else round(value, 3)
                              for name, value in cpu.items()},
        "rounds": tally.rounds,
    }


def cpu_ratio(rounds: list[dict[str, float | int | None]]) -> float | None:
    """The CI gate's figure: in each round, the service's CPU over the upstream's in that same
    round (it streamed the same answers, read over the same seconds, so a moment when the whole
    machine ran slow divides out), the median over the rounds."""
    ratios = [float(r["server_cpu_s"]) / float(r["upstream_cpu_s"]) for r in rounds
              if r.get("server_cpu_s") is not None and r.get("upstream_cpu_s")]
    return round(statistics.median(ratios), 3) if ratios else None


def hit_cpu_ratio(hit: Tally, misses: Tally | None) -> float | None:
    """The gate's figure for the fixed cost: in each round, a cache hit's CPU over the
    upstream's CPU per answer in the miss round just before it (a yardstick of the machine's
    speed at that moment: a hit makes no upstream call of its own), the median of the rounds."""
    if misses is None:
        return None
    ratios = []
    for hit_round, miss_round in zip(hit.rounds, misses.rounds, strict=False):
        served, upstream = hit_round.get("server_cpu_s"), miss_round.get("upstream_cpu_s")
        if served is None or not upstream or not hit_round["answers"] or not miss_round["answers"]:
            continue
        ratios.append((float(served) / float(hit_round["answers"]))
                      / (float(upstream) / float(miss_round["answers"])))
    return round(statistics.median(ratios), 4) if ratios else None


def _difference(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 2)


def derive_point(tallies: PointTallies, config: OverheadConfig) -> dict[str, Any]:
    """One point's entry in ``summary.json``."""
    upstream = config.idle if tallies.point.idle else config.fixed
    sides = {name: side_figures(t) for name, t in tallies.misses.items()}
    direct = sides[DIRECT]
    for name, figures in sides.items():
        if name == DIRECT:
            continue
        figures["overhead_ms"] = {
            q: _difference(figures["ttft_ms"][q], direct["ttft_ms"][q]) for q in ("p50", "p99")}
        figures["cpu_ratio"] = cpu_ratio(tallies.misses[name].rounds)
    point: dict[str, Any] = {
        "name": tallies.point.name,
        "streams": tallies.streams,
        "idle": tallies.point.idle,
        "burst": tallies.point.burst,
        "rounds": tallies.rounds,
        "round_s": round(tallies.round_s, 2),
        "upstream": {"profile": upstream.profile, "ttft_ms": upstream.ttft_ms,
                     "itl_ms": upstream.itl_ms, "tokens": upstream.tokens},
        "sides": sides,
        "hits": {name: side_figures(t) for name, t in tallies.hits.items()},
    }
    for name, hit in point["hits"].items():
        hit["cpu_ratio"] = hit_cpu_ratio(tallies.hits[name], tallies.misses.get(name))
    if SHORT in sides:
        sides[SHORT]["tokens"] = config.short_tokens
    through = sides.get(THROUGH)
    for count in config.instances:
        proxied = sides.get(nginx_side(count))
        if proxied is not None and through is not None:
            proxied["instances"] = count
            proxied["vs_through"] = _versus(proxied, through)
    fixed = fixed_cost(point, upstream.tokens, config.short_tokens)
    if fixed is not None:
        point["fixed_cost_ms"] = fixed
    if TELEMETRY_OFF in sides and TELEMETRY_ON in sides:
        point["telemetry_on_off"] = _on_off(sides[TELEMETRY_OFF], sides[TELEMETRY_ON])
    if TRANSPORT_HTTPX in sides and TRANSPORT_LEAN in sides:
        point["transport_lean_over_httpx"] = _on_off(sides[TRANSPORT_HTTPX], sides[TRANSPORT_LEAN])
    return point


def fixed_cost(point: dict[str, Any], tokens: int, short_tokens: int) -> dict[str, Any] | None:
    """What a request costs the service once, whatever its length: the CPU of a cache hit
    (one write), and of a miss less its per-token part, read from two answer lengths measured
    in the same rounds (``THROUGH`` at ``tokens``, ``SHORT`` at ``short_tokens``)."""
    through, short = point["sides"].get(THROUGH), point["sides"].get(SHORT)
    hit = point["hits"].get(THROUGH)
    figures: dict[str, Any] = {
        "hit": hit["cpu_ms_per_answer"].get("server") if hit else None,
        "miss": None, "per_token": None, "tokens": None}
    long_ms = through["cpu_ms_per_answer"].get("server") if through else None
    short_ms = short["cpu_ms_per_answer"].get("server") if short else None
    if long_ms is not None and short_ms is not None and tokens > short_tokens > 0:
        per_token = (long_ms - short_ms) / (tokens - short_tokens)
        figures.update(miss=round(long_ms - tokens * per_token, 3),
                       per_token=round(per_token, 4), tokens=[tokens, short_tokens])
    return None if figures["hit"] is None and figures["miss"] is None else figures


def _versus(side: dict[str, Any], base: dict[str, Any]) -> dict[str, float | None]:
    """A proxy side against the service reached directly: what the proxy adds."""
    return {
        "ttft_p50_ms": _difference(side["ttft_ms"]["p50"], base["ttft_ms"]["p50"]),
        "ttft_p99_ms": _difference(side["ttft_ms"]["p99"], base["ttft_ms"]["p99"]),
        "answers_per_s": _ratio(side["answers_per_s"], base["answers_per_s"]),
    }


def _ratio(on: float | None, off: float | None) -> float | None:
    return None if on is None or not off else round(on / off, 3)


def _on_off(off: dict[str, Any], on: dict[str, Any]) -> dict[str, float | None]:
    """What a switch costs (telemetry on over off, lean over httpx transport), as ratios
    measured in the same run."""
    return {
        "cpu_per_answer": _ratio(on["cpu_ms_per_answer"].get("server"),
                                 off["cpu_ms_per_answer"].get("server")),
        "ttft_p50": _ratio(on["ttft_ms"]["p50"], off["ttft_ms"]["p50"]),
        "answers_per_s": _ratio(on["answers_per_s"], off["answers_per_s"]),
    }
