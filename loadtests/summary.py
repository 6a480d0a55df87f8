"""Every figure of a load run, derived in one place from the raw samples and the service's stats.

``summary.json`` is the contract: the verdict table, ``report.html``, ``gate.md`` and
``junit.xml`` only read it. Percentiles come from all samples (linear interpolation between
closest ranks), never from averages of averages; the targets come from ``targets.yaml`` and
the same ``evaluate`` judges a run at its end and again in the gate. Only the measured part is
judged; the warm-up before it gets its own small block (``warmup``), so the cold-cache figures
stay visible, and a soak's memory readings become ``rss_growth_pct`` and the ``rss_mb`` series.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from loadtests.confidence import mean_interval, proportion_interval, quantile_interval

__all__ = [
    "TARGETS",
    "build_summary",
    "evaluate",
    "load_targets",
    "overall_verdict",
    "percentile",
]

# targets.yaml key → (summary field, comparison, label, unit)
TARGETS: Mapping[str, tuple[str, str, str, str]] = {
    "perceived_p95_seconds": ("ttft_p95_s", "<=", "perceived response (TTFT) p95", "s"),
    "cache_hit_rate_min": ("cache_hit_rate", ">=", "cache hit rate", "ratio"),
    "full_response_avg_seconds_max": (
        "full_response_avg_s", "<=", "full response mean (cache misses)", "s"),
    "error_rate_max": ("error_rate", "<=", "error rate", "ratio"),
    "browser_first_paint_p95_seconds": (
        "browser_first_paint_p95_s", "<=", "browser first paint p95", "s"),
}
# Targets only some runs measure: judged when the run's option (a key of ``run``) asked for them.
OPTIONAL_TARGETS: Mapping[str, str] = {"browser_first_paint_p95_seconds": "browsers"}
STREAM_KINDS = ("chat", "openai")
_HIT_RATE_AGREEMENT = 0.01  # samples and the service may differ by rounding, no more
_SERIES_POINTS = 40
_HISTOGRAM_BINS = 40
_RSS_WINDOW_S = 60.0  # memory growth: median of the first minute vs the last minute
_MB = 1024 * 1024


def load_targets(path: Path) -> dict[str, float]:
    """The targets file as numbers; unknown or missing keys are an error, not a silent pass."""
    raw = yaml.safe_load(Path(path).read_text())
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping of targets")
    unknown = sorted(set(raw) - set(TARGETS))
    if unknown:
        raise ValueError(f"{path}: unknown targets {', '.join(unknown)}")
    return {key: float(value) for key, value in raw.items()}


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0-1) of ``values``, linearly interpolated; ``None`` when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def _meets(value: float, op: str, threshold: float) -> bool:
    return value <= threshold if op == "<=" else value >= threshold


def evaluate(summary: Mapping[str, Any], targets: Mapping[str, float]) -> list[dict[str, Any]]:
    """Each target's threshold, measured value, 95 % interval and result; no data is a failure.

    ``result`` is ``pass`` when the measured value meets the target, ``fail`` when even the best
    end of its interval misses it, and ``inconclusive`` in between (too few samples to tell).
    """
    results = []
    for key, threshold in targets.items():
        if key in OPTIONAL_TARGETS and not (summary.get("run") or {}).get(OPTIONAL_TARGETS[key]):
            continue
        field, op, label, unit = TARGETS[key]
        measured = summary.get(field)
        interval = (summary.get("intervals") or {}).get(field)
        if measured is None:
            result = "fail"
        elif _meets(measured, op, threshold):
            result = "pass"
        elif interval is not None and _meets(interval[0 if op == "<=" else 1], op, threshold):
            result = "inconclusive"
        else:
            result = "fail"
        results.append({"target": key, "label": label, "metric": field, "op": op,
                        "threshold": threshold, "measured": measured, "unit": unit,
                        "interval": interval, "result": result, "passed": result == "pass"})
    return results


def overall_verdict(checks: Sequence[Mapping[str, Any]]) -> str:
    """``fail`` if any check failed, else ``inconclusive`` if any was, else ``pass``."""
    results = {check.get("result", "pass" if check["passed"] else "fail") for check in checks}
    if "fail" in results:
        return "fail"
    return "inconclusive" if "inconclusive" in results else "pass"


def _intervals(ttft: Sequence[float], misses: Sequence[float], errors: int, requests: int,
               hits: float | None, lookups: float | None) -> dict[str, list[float] | None]:
    def rounded(pair: tuple[float, float] | None) -> list[float] | None:
        return None if pair is None else [round(pair[0], 4), round(pair[1], 4)]

    return {
        "ttft_p95_s": rounded(quantile_interval(ttft, 0.95)),
        "full_response_avg_s": rounded(mean_interval(misses)),
        "error_rate": rounded(proportion_interval(errors, requests)),
        "cache_hit_rate": rounded(proportion_interval(hits, lookups))
        if hits is not None and lookups else None,
    }


def _is_good(sample: Mapping[str, Any], targets: Mapping[str, float]) -> bool:
    """Met every latency target a single request can meet (the full-response one per request)."""
    if not sample["ok"]:
        return False
    if sample["kind"] not in STREAM_KINDS:
        return True
    ttft_limit = targets.get("perceived_p95_seconds", math.inf) * 1000
    full_limit = targets.get("full_response_avg_seconds_max", math.inf) * 1000
    ttft_ok = sample["ttft_ms"] is not None and sample["ttft_ms"] <= ttft_limit
    full_ok = sample["cache"] == "hit" or (sample["total_ms"] or math.inf) <= full_limit
    return ttft_ok and full_ok


def _lookups(samples: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Streams that reached the cache. Quick checks are not lookups in the service's counters."""
    return [s for s in samples if s["kind"] in STREAM_KINDS and s["cache"] is not None]


def _hit_rate(looked_up: Sequence[Mapping[str, Any]]) -> float | None:
    return (sum(s["cache"] == "hit" for s in looked_up) / len(looked_up)) if looked_up else None


def _service_figures(before: Mapping[str, Any] | None,
                     after: Mapping[str, Any] | None) -> dict[str, Any]:
    """Hit rate and overhead over the run: the service's counters at the end minus the start."""
    if not before or not after:
        return {"cache_lookups_service": None, "cache_hit_rate_service": None,
                "service_ttft_mean_ms": None, "upstream_ttft_mean_ms": None,
                "service_overhead_ms": None}
    cache0, cache1 = before["cache"], after["cache"]
    lookups = cache1["lookups"] - cache0["lookups"]
    hits = cache1["hits"] - cache0["hits"]

    def delta(stat: str) -> float | None:
        count = total = 0.0
        for name, figures in after["openai"]["models"].items():
            old = before["openai"]["models"].get(name, {}).get(stat, {})
            new = figures[stat]
            count += new["count"] - old.get("count", 0)
            total += new["count"] * (new["mean"] or 0) - old.get("count", 0) * (
                old.get("mean") or 0)
        return total / count * 1000 if count else None

    service_ttft, upstream_ttft = delta("ttft_s"), delta("upstream_ttft_s")
    overhead = (service_ttft - upstream_ttft
                if service_ttft is not None and upstream_ttft is not None else None)
    tiers = Counter(cache1.get("hits_by_tier") or {})
    tiers.subtract(cache0.get("hits_by_tier") or {})
    return {
        "cache_lookups_service": lookups,
        "cache_hit_rate_service": _round(hits / lookups) if lookups else None,
        "cache_hits_by_tier_service": {k: v for k, v in tiers.items() if v},
        "service_ttft_mean_ms": _round(service_ttft, 2),
        "upstream_ttft_mean_ms": _round(upstream_ttft, 2),
        "service_overhead_ms": _round(overhead, 2),
    }


def _series(samples: Sequence[Mapping[str, Any]], start: float, end: float) -> dict[str, Any]:
    """Figures per time bucket, by completion time: throughput, errors, hit rate, full response."""
    bucket = max(1.0, math.ceil((end - start) / _SERIES_POINTS))
    n = max(1, math.ceil((end - start) / bucket))
    done = [[] for _ in range(n)]
    for s in samples:
        finished = s["started_epoch_s"] + (s["total_ms"] or 0) / 1000
        done[min(n - 1, max(0, int((finished - start) // bucket)))].append(s)
    hits = lookups = 0
    series: dict[str, list[Any]] = {"t_s": [], "requests_per_s": [], "errors": [],
                                    "hit_rate_cumulative": [], "full_response_avg_s": [],
                                    "ttft_p95_s": [], "users": []}
    for i, group in enumerate(done):
        hits += sum(s["cache"] == "hit" for s in group if s["kind"] in STREAM_KINDS)
        lookups += sum(s["cache"] is not None for s in group if s["kind"] in STREAM_KINDS)
        misses = [s["total_ms"] / 1000 for s in group
                  if s["ok"] and s["cache"] == "miss" and s["kind"] in STREAM_KINDS]
        ttft = [s["ttft_ms"] / 1000 for s in group if s["ttft_ms"] is not None]
        series["t_s"].append((i + 1) * bucket)
        series["requests_per_s"].append(_round(len(group) / bucket, 3))
        series["errors"].append(sum(not s["ok"] for s in group))
        series["hit_rate_cumulative"].append(_round(hits / lookups) if lookups else None)
        series["full_response_avg_s"].append(_round(_mean(misses), 3))
        series["ttft_p95_s"].append(_round(percentile(ttft, 0.95), 3))
        series["users"].append(max((s.get("users", 0) for s in group), default=None))
    return {"bucket_s": bucket, **series}


def _histogram(values_s: Sequence[float], limit_s: float) -> dict[str, list[float]]:
    top = max([limit_s * 1.5, *values_s]) if values_s else limit_s * 1.5
    width = top / _HISTOGRAM_BINS
    counts = [0] * _HISTOGRAM_BINS
    for value in values_s:
        counts[min(_HISTOGRAM_BINS - 1, int(value / width))] += 1
    return {"edges_s": [round(i * width, 4) for i in range(_HISTOGRAM_BINS + 1)],
            "counts": counts}


def _browser_figures(samples: Sequence[Mapping[str, Any]], start: float,
                     end: float) -> tuple[dict[str, Any], list[float] | None]:
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
    }, None if interval is None else [round(interval[0], 4), round(interval[1], 4)]


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


def _index_entries(snapshot: Mapping[str, Any] | None) -> int | None:
    """Entries of the cache's semantic index, which each worker holds in its own memory."""
    return (snapshot or {}).get("cache", {}).get("semantic_index")


def _rss_figures(readings: Sequence[Mapping[str, Any]] | None, start: float,
                 service_before: Mapping[str, Any] | None = None,
                 service_after: Mapping[str, Any] | None = None,
                 ) -> tuple[dict[str, Any] | None, dict[str, list[float]] | None]:
    """Memory growth after the warm-up, from the sampler's raw readings; and the series.

    Growth compares the median of the workers' summed RSS over the first minute after the
    warm-up with the median over the last minute (a quarter of the run each when it is shorter
    than four minutes): medians shrug off a single reading taken mid-allocation, which would
    tilt a least-squares line. The same two medians, over the time between the windows'
    middles, give the rate per hour, to extrapolate. Beside them: how many entries the cache's
    semantic index (kept in every worker, bounded by ``CHAT_CACHE_MAX_ENTRIES``) gained, so
    growth that follows the index can be told from growth that follows nothing.
    """
    after = [r for r in readings or () if r["epoch_s"] >= start]
    if not after:
        return None, None
    t = [r["epoch_s"] - start for r in after]
    workers = [sum(r["workers_bytes"].values()) / _MB for r in after]
    master = [r["master_bytes"] / _MB for r in after]
    window = min(_RSS_WINDOW_S, (t[-1] - t[0]) / 4)
    first = statistics.median(w for ti, w in zip(t, workers, strict=True) if ti <= t[0] + window)
    last = statistics.median(w for ti, w in zip(t, workers, strict=True) if ti >= t[-1] - window)
    before = [r for r in readings or () if r["epoch_s"] < start]
    hours = (t[-1] - t[0] - window) / 3600
    figures = {
        "method": f"workers' RSS summed; median of the first {window:.0f} s after the warm-up "
                  f"vs median of the last {window:.0f} s",
        "window_s": _round(window, 1),
        "samples": len(after),
        "first_s": _round(t[0], 1),
        "last_s": _round(t[-1], 1),
        "start_mb": _round(first, 1),
        "end_mb": _round(last, 1),
        "growth_pct": _round((last - first) / first * 100, 2) if first else None,
        "slope_mb_per_h": _round((last - first) / hours, 2) if hours > 0 else None,
        "master_start_mb": _round(master[0], 1),
        "master_end_mb": _round(master[-1], 1),
        "workers": len(after[-1]["workers_bytes"]),
        # More pids than workers: a worker was replaced, and its memory started again.
        "worker_pids_seen": len({pid for r in readings or () for pid in r["workers_bytes"]}),
        "before_warmup_mb": _round(sum(before[0]["workers_bytes"].values()) / _MB, 1)
        if before else None,
        "semantic_index_start": _index_entries(service_before),
        "semantic_index_end": _index_entries(service_after),
    }
    series = {"t_s": [_round(v, 1) for v in t], "workers": [_round(v, 2) for v in workers],
              "master": [_round(v, 2) for v in master]}
    return figures, series


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
    browser_samples: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The whole ``summary.json`` of one run, verdict included.

    ``samples`` and ``service_before`` belong to the measured part: with a warm-up,
    ``service_before`` is the service's counters at its end, and ``warmup_samples`` and
    ``service_before_warmup`` describe the warm-up itself. ``rss_readings`` come from a soak's
    memory sampler; ``browser_samples`` from the browser sessions (``--browsers``).
    """
    start, end = run["started_epoch_s"], run["finished_epoch_s"]
    streams = [s for s in samples if s["kind"] in STREAM_KINDS]
    ttft = [s["ttft_ms"] / 1000 for s in streams if s["ttft_ms"] is not None]
    misses = [s["total_ms"] / 1000 for s in streams if s["ok"] and s["cache"] == "miss"]
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
    rss, rss_mb = _rss_figures(rss_readings, start, service_before, service_after)
    browser, browser_interval = _browser_figures(browser_samples, start, end)
    summary: dict[str, Any] = {
        "schema": 1,
        "run": dict(run),
        "requests": len(samples),
        "requests_by_kind": dict(Counter(s["kind"] for s in samples)),
        "requests_by_turn": dict(Counter(s["turn"] for s in samples)),
        "errors": len(errors),
        "error_rate": _round(len(errors) / len(samples)) if samples else None,
        "errors_by_reason": dict(Counter(s["error"] for s in errors).most_common(10)),
        "throughput_rps": _round(len(samples) / (end - start), 3) if end > start else None,
        "ttft_samples": len(ttft),
        "ttft_p50_s": _round(percentile(ttft, 0.50)),
        "ttft_p95_s": _round(percentile(ttft, 0.95)),
        "ttft_p99_s": _round(percentile(ttft, 0.99)),
        "ttft_mean_s": _round(_mean(ttft)),
        "meta_p95_s": _round(percentile(
            [s["meta_ms"] / 1000 for s in streams if s["meta_ms"] is not None], 0.95)),
        "inter_token_mean_ms": _round(_mean(
            [s["itl_ms"] for s in streams if s["itl_ms"] is not None]), 3),
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
        "goodput": _round(sum(_is_good(s, targets) for s in samples) / len(samples))
        if samples else None,
        "locust_entries": dict(locust_entries or {}),
        "series": _series(samples, start, end),
        "ttft_histogram": _histogram(ttft, targets.get("perceived_p95_seconds", 1.0)),
        "rss": rss,
        "rss_growth_pct": rss["growth_pct"] if rss else None,
        "rss_mb": rss_mb,
        **browser,
    }
    lookups = service["cache_lookups_service"] or len(looked_up)
    summary["intervals"] = _intervals(
        ttft, misses, len(errors), len(samples),
        hit_rate * lookups if hit_rate is not None else None, lookups,
    )
    summary["intervals"]["browser_first_paint_p95_s"] = browser_interval
    summary["targets"] = evaluate(summary, targets)
    summary["verdict"] = overall_verdict(summary["targets"])
    return summary
