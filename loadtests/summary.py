"""Every figure of a load run, derived in one place from the raw samples and the service's stats.

``summary.json`` is the contract: the verdict table, ``report.html``, ``gate.md`` and
``junit.xml`` only read it. Percentiles come from all samples (linear interpolation between
closest ranks), never from averages of averages; ``loadtests.verdict`` judges the summary
against ``targets.yaml``, at the end of a run and again in the gate. Only the measured part is
judged; the warm-up before it gets its own small block (``warmup``), so the cold-cache figures
stay visible, and a soak's memory readings become ``rss_growth_pct`` and the ``rss_mb`` series.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from loadtests.breakdown import breakdown, ttft_histogram
from loadtests.confidence import mean_interval, percentile, proportion_interval, quantile_interval
from loadtests.instances import instance_figures
from loadtests.memory import rss_figures
from loadtests.thresholds import Threshold, evaluate_thresholds, figure_names
from loadtests.verdict import aborted_checks, evaluate, overall_verdict

__all__ = ["build_summary", "figure_names_of_a_summary"]

STREAM_KINDS = ("chat", "openai")
# The endpoint each kind of request goes to (Locust's entry names).
ENDPOINTS: Mapping[str, str] = {"chat": "POST /api/chat/stream",
                                "openai": "POST /v1/chat/completions",
                                "quick": "POST /api/chat/quick"}
# None in an empty summary, but not figures
_BLOCKS = ("schema", "warmup", "rss", "rss_mb", "instances")
_DEFAULT_TTFT_TARGET_S = 1.0  # goodput's bound when a targets file has no TTFT target
_HIT_RATE_AGREEMENT = 0.01  # samples and the service may differ by rounding, no more
_SERIES_POINTS = 40


def figure_names_of_a_summary() -> list[str]:
    """Every figure a summary has, so a threshold's typo is refused before a run, not after."""
    empty = build_summary([], {}, {"started_epoch_s": 0.0, "finished_epoch_s": 1.0})
    return [name for name in figure_names(empty) if name not in _BLOCKS]


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def _intervals(ttft: Sequence[float], misses: Sequence[float], errors: int, requests: int,
               hits: float | None, lookups: float | None) -> dict[str, list[float | None] | None]:
    def rounded(pair: tuple[float | None, float | None] | None) -> list[float | None] | None:
        return None if pair is None else [None if v is None else round(v, 4) for v in pair]

    return {
        "ttft_p95_s": rounded(quantile_interval(ttft, 0.95)),
        "full_response_avg_s": rounded(mean_interval(misses)),
        "error_rate": rounded(proportion_interval(errors, requests)),
        "cache_hit_rate": rounded(proportion_interval(hits, lookups))
        if hits is not None and lookups else None,
    }


def _finished(sample: Mapping[str, Any]) -> float:
    return sample["started_epoch_s"] + (sample["total_ms"] or 0) / 1000


def _is_good(sample: Mapping[str, Any], ttft_target_s: float) -> bool:
    """Counts towards goodput (``otel.rules.targets.GOODPUT``): a stream's first content token
    came within the TTFT target. The same test as the dashboards' and rules' PromQL."""
    return (sample["kind"] in STREAM_KINDS and sample["ttft_ms"] is not None
            and sample["ttft_ms"] <= ttft_target_s * 1000)


def _rates(samples: Sequence[Mapping[str, Any]], start: float, until: float,
           ttft_target_s: float) -> dict[str, Any]:
    """Throughput, the streams' throughput, goodput and output tokens per second over the
    measured window, without the stop tail.

    Requests still finishing after the load stopped (Locust's ``--stop-timeout``) are counted in
    every other figure, but not per second: the window they finish in has no load arriving.
    Goodput counts streams (``otel.rules.targets.GOODPUT``), so it is set beside the streams'
    own throughput: equal when every first token came within the target.
    """
    seconds = until - start
    inside = [s for s in samples if _finished(s) <= until]
    if seconds <= 0:
        return {"window_s": None, "throughput_rps": None, "stream_throughput_rps": None,
                "goodput_rps": None, "output_tokens_per_s": None,
                "stop_tail_requests": len(samples)}
    return {"window_s": _round(seconds, 2),
            "throughput_rps": _round(len(inside) / seconds, 3),
            "stream_throughput_rps": _round(
                sum(s["kind"] in STREAM_KINDS for s in inside) / seconds, 3),
            "goodput_rps": _round(sum(_is_good(s, ttft_target_s) for s in inside) / seconds, 3),
            "output_tokens_per_s": _round(
                sum(s["output_tokens"] for s in inside if s["ok"]) / seconds, 1),
            "stop_tail_requests": len(samples) - len(inside)}


def _lookups(samples: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Streams that reached the cache. Quick checks are not lookups in the service's counters."""
    return [s for s in samples if s["kind"] in STREAM_KINDS and s["cache"] is not None]


def _hit_rate(looked_up: Sequence[Mapping[str, Any]]) -> float | None:
    return (sum(s["cache"] == "hit" for s in looked_up) / len(looked_up)) if looked_up else None


def _histogram_delta(before: Mapping[str, Any], after: Mapping[str, Any],
                     key: str) -> tuple[float, float] | None:
    """(count, sum) of one of ``service_stats.histogram_totals``' histograms over the run."""
    old = (before.get("metrics") or {}).get(key) or {"count": 0.0, "sum": 0.0}
    new = (after.get("metrics") or {}).get(key)
    if not new or new["count"] <= old["count"]:
        return None
    return new["count"] - old["count"], new["sum"] - old["sum"]


def _overhead_figures(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """The service's overhead, and the TTFT it is the difference of, over the same requests.

    Per request that led an upstream call, the service's TTFT is that call's TTFT plus the
    overhead (``service.timings``), so over those requests the means add up exactly: the
    service's TTFT here is the upstream mean plus the overhead mean. Cache hits, single-flight
    followers and pre-warm calls are in none of the three.
    """
    overhead = _histogram_delta(before, after, "overhead")
    upstream = _histogram_delta(before, after, "upstream_ttft")
    figures: dict[str, Any] = {"service_overhead_ms": None, "upstream_ttft_mean_ms": None,
                               "service_ttft_led_mean_ms": None, "led_requests": None,
                               "upstream_calls": None}
    if overhead:
        figures["service_overhead_ms"] = _round(overhead[1] / overhead[0] * 1000, 2)
        figures["led_requests"] = int(overhead[0])
    if upstream:
        figures["upstream_ttft_mean_ms"] = _round(upstream[1] / upstream[0] * 1000, 2)
        figures["upstream_calls"] = int(upstream[0])
    if overhead and upstream:
        figures["service_ttft_led_mean_ms"] = _round(
            figures["upstream_ttft_mean_ms"] + figures["service_overhead_ms"], 2)
    return figures


def _service_figures(before: Mapping[str, Any] | None,
                     after: Mapping[str, Any] | None) -> dict[str, Any]:
    """Hit rate, cache backend errors and overhead over the run: the service's counters at the
    end minus the start."""
    if not before or not after:
        return {"cache_lookups_service": None, "cache_hit_rate_service": None,
                "cache_backend_errors": None, **_overhead_figures({}, {}),
                **_variant_figures({}, {}, 0)}
    cache0, cache1 = before["cache"], after["cache"]
    lookups = cache1["lookups"] - cache0["lookups"]
    hits = cache1["hits"] - cache0["hits"]
    tiers = Counter(cache1.get("hits_by_tier") or {})
    tiers.subtract(cache0.get("hits_by_tier") or {})
    return {
        "cache_lookups_service": lookups,
        "cache_hit_rate_service": _round(hits / lookups) if lookups else None,
        "cache_hits_by_tier_service": {k: v for k, v in tiers.items() if v},
        "cache_backend_errors": cache1.get("backend_errors", 0) - cache0.get("backend_errors", 0),
        **_overhead_figures(before, after),
        **_variant_figures(cache0, cache1, hits),
    }


def _variant_figures(cache0: Mapping[str, Any], cache1: Mapping[str, Any],
                     hits: int) -> dict[str, Any]:
    """Further answers of cached questions over the run: the share of hits that served one
    (not the first answer), and the background upstream calls and tokens that made them. Those
    calls are not lookups, so the hit rate and the request TTFTs leave them out."""
    old, new = cache0.get("variants") or {}, cache1.get("variants")
    if not new:  # a service without variants
        return {"cache_variant_hit_share": None, "cache_variant_upstream_calls": None,
                "cache_variants_made": None, "cache_variant_output_tokens": None}

    def grown(key: str) -> int:
        return int(new.get(key, 0)) - int(old.get(key, 0))

    return {
        "cache_variant_hit_share": _round(grown("served") / hits) if hits else None,
        "cache_variant_upstream_calls": grown("upstream_calls"),
        "cache_variants_made": grown("made"),
        "cache_variant_output_tokens": (int((new.get("upstream_tokens") or {}).get("output", 0))
                                        - int((old.get("upstream_tokens") or {}).get("output", 0))),
    }


def _concurrency(samples: Sequence[Mapping[str, Any]], low: float, high: float) -> float:
    """Requests in flight between ``low`` and ``high``, on average (their summed overlap)."""
    busy = sum(max(0.0, min(_finished(s), high) - max(s["started_epoch_s"], low))
               for s in samples)
    return busy / (high - low)


def _series(samples: Sequence[Mapping[str, Any]], start: float, end: float,
            ttft_target_s: float, first: float | None = None) -> dict[str, Any]:
    """Figures per time bucket by completion time, ``t_s`` seconds after the measured start.

    With a warm-up, ``first`` is its start and its buckets come first, at negative times (the
    report shades them). The load stopped at ``end``: requests finishing later (the stop tail)
    get buckets of their own after ``stop_at_s``, which the report marks.
    """
    first = start if first is None else first
    last = max([end, *(_finished(s) for s in samples)])
    bucket = max(1.0, math.ceil((end - first) / _SERIES_POINTS))
    before = math.ceil((start - first) / bucket)
    n = max(1, before + math.ceil((last - start) / bucket))
    done: list[list[Mapping[str, Any]]] = [[] for _ in range(n)]
    for s in samples:  # a bucket holds what finished after its start, up to and at its end
        index = before + math.ceil((_finished(s) - start) / bucket) - 1
        done[min(n - 1, max(0, index))].append(s)
    hits = lookups = 0
    series: dict[str, list[Any]] = {
        "t_s": [], "requests_per_s": [], "goodput_per_s": [], "errors": [], "error_rate": [],
        "hit_rate_cumulative": [], "full_response_avg_s": [], "ttft_p50_s": [], "ttft_p95_s": [],
        "ttft_p95_hit_s": [], "ttft_p95_miss_s": [], "concurrency": [], "users": []}
    for i, group in enumerate(done):
        if i == before:  # the measured part's hit rate starts afresh
            hits = lookups = 0
        streams = [s for s in group if s["kind"] in STREAM_KINDS]
        hits += sum(s["cache"] == "hit" for s in streams)
        lookups += sum(s["cache"] is not None for s in streams)
        misses = [s["total_ms"] / 1000 for s in streams if s["ok"] and s["cache"] == "miss"]
        ttft = {outcome: [s["ttft_ms"] / 1000 for s in streams if s["ttft_ms"] is not None
                          and (outcome == "all" or s["cache"] == outcome)]
                for outcome in ("all", "hit", "miss")}
        bucket_start = start + (i - before) * bucket
        series["t_s"].append((i + 1 - before) * bucket)
        series["requests_per_s"].append(_round(len(group) / bucket, 3))
        series["goodput_per_s"].append(
            _round(sum(_is_good(s, ttft_target_s) for s in group) / bucket, 3))
        series["errors"].append(sum(not s["ok"] for s in group))
        series["error_rate"].append(
            _round(sum(not s["ok"] for s in group) / len(group)) if group else None)
        series["hit_rate_cumulative"].append(_round(hits / lookups) if lookups else None)
        series["full_response_avg_s"].append(_round(_mean(misses), 3))
        series["ttft_p50_s"].append(_round(percentile(ttft["all"], 0.50), 3))
        series["ttft_p95_s"].append(_round(percentile(ttft["all"], 0.95), 3))
        series["ttft_p95_hit_s"].append(_round(percentile(ttft["hit"], 0.95), 3))
        series["ttft_p95_miss_s"].append(_round(percentile(ttft["miss"], 0.95), 3))
        series["concurrency"].append(
            _round(_concurrency(samples, bucket_start, bucket_start + bucket), 2))
        series["users"].append(max((s.get("users", 0) for s in group), default=None))
    return {"bucket_s": bucket, "warmup_until_s": 0.0 if before else None,
            "stop_at_s": _round(end - start, 2) if last > end else None, **series}


def _endpoints(samples: Sequence[Mapping[str, Any]], window_s: float | None,
               until: float) -> dict[str, Any]:
    """One row per endpoint, as Locust's and k6's tables have them: requests, errors, rate,
    TTFT (streams) and full-response percentiles, output tokens."""
    rows = {}
    for kind, name in ENDPOINTS.items():
        mine = [s for s in samples if s["kind"] == kind]
        if not mine:
            continue
        answered = [s for s in mine if s["ok"]]
        ttft = [s["ttft_ms"] / 1000 for s in answered if s["ttft_ms"] is not None]
        total = [s["total_ms"] / 1000 for s in answered if s["total_ms"] is not None]
        inside = sum(_finished(s) <= until for s in mine)
        errors = len(mine) - len(answered)
        rows[name] = {
            "requests": len(mine), "errors": errors, "error_rate": _round(errors / len(mine)),
            "throughput_rps": _round(inside / window_s, 3) if window_s else None,
            "ttft_p50_s": _round(percentile(ttft, 0.50)),
            "ttft_p95_s": _round(percentile(ttft, 0.95)),
            "ttft_p99_s": _round(percentile(ttft, 0.99)),
            "full_response_p50_s": _round(percentile(total, 0.50)),
            "full_response_p95_s": _round(percentile(total, 0.95)),
            "full_response_p99_s": _round(percentile(total, 0.99)),
            "output_tokens": sum(s["output_tokens"] for s in answered),
        }
    return rows


def _browser_figures(samples: Sequence[Mapping[str, Any]], start: float,
                     end: float) -> tuple[dict[str, Any], list[float | None] | None]:
    """What the browser sessions saw in the measured part (send to first/last text painted),
    and the 95 % interval of the first paint's p95."""
    measured = [s for s in samples if start <= s["started_epoch_s"] <= end]
    first = [s["first_paint_ms"] / 1000 for s in measured if s["first_paint_ms"] is not None]
    last = [s["last_paint_ms"] / 1000 for s in measured if s["last_paint_ms"] is not None]
    interval = quantile_interval(first, 0.95)
    return {
        "browser_answers": len(measured),
        "browser_errors": sum(not s["ok"] for s in measured),
        "browser_first_paint_samples": len(first),
        "browser_first_paint_p50_s": _round(percentile(first, 0.50)),
        "browser_first_paint_p95_s": _round(percentile(first, 0.95)),
        "browser_last_paint_mean_s": _round(_mean(last)),
    }, None if interval is None else [None if v is None else round(v, 4) for v in interval]


def _warmup_figures(run: Mapping[str, Any], samples: Sequence[Mapping[str, Any]],
                    service_start: Mapping[str, Any] | None,
                    service_end: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What the uncounted warm-up saw: its requests, errors and (cold-cache) hit rate."""
    if not run.get("warmup_s"):
        return None
    service = _service_figures(service_start, service_end)
    looked_up = _lookups(samples)
    rate_samples = _round(_hit_rate(looked_up))
    rate_service = service["cache_hit_rate_service"]
    return {"duration_s": run["warmup_s"], "requests": len(samples),
            "errors": sum(not s["ok"] for s in samples),
            "cache_lookups_service": service["cache_lookups_service"],
            "cache_hit_rate_service": rate_service,
            "cache_lookups_samples": len(looked_up), "cache_hit_rate_samples": rate_samples,
            "cache_hit_rate": rate_service if rate_service is not None else rate_samples}


def build_summary(
    samples: Sequence[Mapping[str, Any]],
    targets: Mapping[str, float],
    run: Mapping[str, Any],
    service_before: Mapping[str, Any] | None = None,
    service_after: Mapping[str, Any] | None = None,
    locust_entries: Mapping[str, int] | None = None,
    *,
    warmup_samples: Sequence[Mapping[str, Any]] = (),
    service_before_warmup: Mapping[str, Any] | None = None,
    rss_readings: Sequence[Mapping[str, Any]] | None = None,
    thresholds: Sequence[Threshold] = (),
    browser_samples: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The whole ``summary.json`` of one run, verdict included.

    ``samples`` and ``service_before`` belong to the measured part: with a warm-up,
    ``service_before`` is the service's counters at its end, and ``warmup_samples`` and
    ``service_before_warmup`` describe the warm-up itself. ``rss_readings`` come from a soak's
    memory sampler; ``thresholds`` are judged beside the targets and count in the verdict;
    ``browser_samples`` come from the browser sessions (``--browsers``).
    """
    start = run["started_epoch_s"]
    # The load stopped here; later finishes are the stop tail (``run["finished_epoch_s"]`` is
    # when the processes were done, a few seconds after).
    until = run.get("measured_until_epoch_s") or run["finished_epoch_s"]
    ttft_target_s = targets.get("perceived_p95_seconds", _DEFAULT_TTFT_TARGET_S)
    streams = [s for s in samples if s["kind"] in STREAM_KINDS]
    timed = [s for s in streams if s["ttft_ms"] is not None]
    ttft = [s["ttft_ms"] / 1000 for s in timed]
    misses = [s["total_ms"] / 1000 for s in streams if s["ok"] and s["cache"] == "miss"]
    # Time per output token after the first (vLLM's TPOT), of answers the model generated: a
    # cache hit replays its tokens at once, so its gaps say nothing about generation.
    tpot = [s["itl_ms"] for s in streams
            if s["ok"] and s["cache"] == "miss" and s["itl_ms"] is not None]
    # Quick checks are not cache lookups in the service's counters; they get their own rate.
    looked_up = _lookups(samples)
    quick = [s for s in samples if s["kind"] == "quick" and s["cache"] is not None]
    hit_rate_samples = _hit_rate(looked_up)
    errors = [s for s in samples if not s["ok"]]
    transport = [s["ttft_ms"] - s["server_ttft_ms"] for s in streams
                 if s["ttft_ms"] is not None and s["server_ttft_ms"] is not None]
    service = _service_figures(service_before, service_after)
    hit_rate = service["cache_hit_rate_service"]
    warmup = _warmup_figures(run, warmup_samples, service_before_warmup, service_before)
    rss, rss_mb = rss_figures(rss_readings, start, service_before, service_after)
    browser, browser_interval = _browser_figures(browser_samples, start, until)
    rates = _rates(samples, start, until, ttft_target_s)
    summary: dict[str, Any] = {
        "schema": 2,
        "run": dict(run),
        "requests": len(samples),
        "requests_by_kind": dict(Counter(s["kind"] for s in samples)),
        "requests_by_turn": dict(Counter(s["turn"] for s in samples)),
        "errors": len(errors),
        "error_rate": _round(len(errors) / len(samples)) if samples else None,
        "errors_by_reason": dict(Counter(s["error"] for s in errors).most_common(10)),
        **rates,
        "input_tokens_total": sum(s.get("input_tokens", 0) for s in samples),
        "output_tokens_total": sum(s["output_tokens"] for s in samples if s["ok"]),
        "endpoints": _endpoints(samples, rates["window_s"], until),
        "ttft_samples": len(ttft),
        "ttft_p50_s": _round(percentile(ttft, 0.50)),
        "ttft_p95_s": _round(percentile(ttft, 0.95)),
        "ttft_p99_s": _round(percentile(ttft, 0.99)),
        "ttft_mean_s": _round(_mean(ttft)),
        "meta_p95_s": _round(percentile(
            [s["meta_ms"] / 1000 for s in streams if s["meta_ms"] is not None], 0.95)),
        "tpot_samples": len(tpot),
        "tpot_mean_ms": _round(_mean(tpot), 3),
        "tpot_p50_ms": _round(percentile(tpot, 0.50), 3),
        "tpot_p99_ms": _round(percentile(tpot, 0.99), 3),
        "full_response_samples": len(misses),
        "full_response_avg_s": _round(_mean(misses)),
        "full_response_p95_s": _round(percentile(misses, 0.95)),
        "cache_lookups_samples": len(looked_up),
        "cache_hit_rate_samples": _round(hit_rate_samples),
        "cache_hits_by_tier_samples": dict(Counter(
            s["tier"] for s in looked_up if s["cache"] == "hit")),
        "quick_hit_rate": _round(sum(s["cache"] == "hit" for s in quick) / len(quick))
        if quick else None,
        **service,
        "cache_hit_rate": hit_rate if hit_rate is not None else _round(hit_rate_samples),
        "cache_hit_rate_agree": (hit_rate is None or hit_rate_samples is None
                                 or abs(hit_rate - hit_rate_samples) <= _HIT_RATE_AGREEMENT),
        "warmup": warmup,
        "warmup_cache_hit_rate": warmup["cache_hit_rate"] if warmup else None,
        "transport_overhead_ms": _round(percentile(transport, 0.5), 2),
        "models": dict(Counter(s["model"] for s in streams if s["model"])),
        "locust_entries": dict(locust_entries or {}),
        "series": _series([*warmup_samples, *samples], start, until, ttft_target_s,
                          run.get("warmup_started_epoch_s")),
        "ttft_histogram": ttft_histogram(
            [s["ttft_ms"] / 1000 for s in timed if s["cache"] == "hit"],
            [s["ttft_ms"] / 1000 for s in timed if s["cache"] != "hit"], ttft_target_s),
        "breakdown": breakdown(streams),
        "rss": rss,
        "rss_growth_pct": rss["growth_pct"] if rss else None,
        "rss_mb": rss_mb,
        # Behind a proxy (--instances N): each instance's share; the figures above are totals.
        "instances": instance_figures(service_before, service_after),
        **browser,
    }
    lookups = service["cache_lookups_service"] or len(looked_up)
    summary["intervals"] = _intervals(
        ttft, misses, len(errors), len(samples),
        # The judged rate's own interval: the service's, or the samples' when it has none.
        summary["cache_hit_rate"] * lookups if summary["cache_hit_rate"] is not None else None,
        lookups,
    )
    summary["intervals"]["browser_first_paint_p95_s"] = browser_interval
    summary["targets"] = evaluate(summary, targets)
    summary["thresholds"] = evaluate_thresholds(summary, thresholds)
    summary["verdict"] = overall_verdict(
        [*summary["targets"], *summary["thresholds"], *aborted_checks(run)])
    return summary
