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
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from loadtests.breakdown import breakdown, ttft_histogram
from loadtests.confidence import mean_interval, proportion_interval, quantile_interval
from loadtests.memory import rss_figures
from loadtests.thresholds import Threshold, evaluate_thresholds, figure_names, parse_thresholds

__all__ = [
    "HIT_RATE_MIN_LOOKUPS",
    "TARGETS",
    "build_summary",
    "evaluate",
    "figure_names_of_a_summary",
    "load_targets",
    "load_thresholds",
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
_BLOCKS = ("schema", "warmup", "rss", "rss_mb")  # None in an empty summary, but not figures
THRESHOLDS_KEY = "thresholds"  # the targets file's section of extra k6-style thresholds
_DEFAULT_TTFT_TARGET_S = 1.0  # goodput's bound when a targets file has no TTFT target
_HIT_RATE_AGREEMENT = 0.01  # samples and the service may differ by rounding, no more
# Below this many lookups a hit rate under target is not a failure: a cache that has seen so few
# questions is still filling (the reference workload has 40 FAQs, each asked many ways), and its
# interval assumes the steady rate the target is about.
HIT_RATE_MIN_LOOKUPS = 100
_SERIES_POINTS = 40


def _read_targets_file(path: Path) -> dict[str, Any]:
    raw = yaml.safe_load(Path(path).read_text())
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping of targets")
    return raw


def load_thresholds(path: Path) -> list[Threshold]:
    """The ``thresholds:`` of a targets file (k6 style, ``loadtests.thresholds``); may be none."""
    return parse_thresholds(_read_targets_file(path).get(THRESHOLDS_KEY))


def figure_names_of_a_summary() -> list[str]:
    """Every figure a summary has, so a threshold's typo is refused before a run, not after."""
    empty = build_summary([], {}, {"started_epoch_s": 0.0, "finished_epoch_s": 1.0})
    return [name for name in figure_names(empty) if name not in _BLOCKS]


def load_targets(path: Path) -> dict[str, float]:
    """The targets file as numbers; unknown or missing keys are an error, not a silent pass."""
    raw = _read_targets_file(path)
    raw.pop(THRESHOLDS_KEY, None)
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
        note = None
        if result == "fail" and field == "cache_hit_rate" and measured is not None:
            lookups = _hit_rate_lookups(summary)
            if lookups is not None and lookups < HIT_RATE_MIN_LOOKUPS:
                result = "inconclusive"
                note = (f"{lookups} lookups: a cache still filling, judged from "
                        f"{HIT_RATE_MIN_LOOKUPS}; run longer")
        results.append({"target": key, "label": label, "metric": field, "op": op,
                        "threshold": threshold, "measured": measured, "unit": unit,
                        "interval": interval, "result": result, "passed": result == "pass",
                        "note": note})
    return results


def _hit_rate_lookups(summary: Mapping[str, Any]) -> int | None:
    """The lookups behind ``cache_hit_rate`` (the service's count when it gave the rate), or
    None when the summary does not say."""
    service = summary.get("cache_lookups_service")
    if service is not None and summary.get("cache_hit_rate_service") is not None:
        return int(service)
    samples = summary.get("cache_lookups_samples")
    return None if samples is None else int(samples)


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


def _finished(sample: Mapping[str, Any]) -> float:
    return sample["started_epoch_s"] + (sample["total_ms"] or 0) / 1000


def _is_good(sample: Mapping[str, Any], ttft_target_s: float) -> bool:
    """Counts towards goodput (``otel.rules.targets.GOODPUT``): a stream's first content token
    came within the TTFT target. The same test as the dashboards' and rules' PromQL."""
    return (sample["kind"] in STREAM_KINDS and sample["ttft_ms"] is not None
            and sample["ttft_ms"] <= ttft_target_s * 1000)


def _rates(samples: Sequence[Mapping[str, Any]], start: float, until: float,
           ttft_target_s: float) -> dict[str, Any]:
    """Throughput and goodput over the measured window, without the stop tail.

    Requests still finishing after the load stopped (Locust's ``--stop-timeout``) are counted in
    every other figure, but not per second: the window they finish in has no load arriving.
    """
    seconds = until - start
    inside = [s for s in samples if _finished(s) <= until]
    if seconds <= 0:
        return {"window_s": None, "throughput_rps": None, "goodput_rps": None}
    return {"window_s": _round(seconds, 2),
            "throughput_rps": _round(len(inside) / seconds, 3),
            "goodput_rps": _round(sum(_is_good(s, ttft_target_s) for s in inside) / seconds, 3),
            "stop_tail_requests": len(samples) - len(inside)}


def _lookups(samples: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Streams that reached the cache. Quick checks are not lookups in the service's counters."""
    return [s for s in samples if s["kind"] in STREAM_KINDS and s["cache"] is not None]


def _hit_rate(looked_up: Sequence[Mapping[str, Any]]) -> float | None:
    return (sum(s["cache"] == "hit" for s in looked_up) / len(looked_up)) if looked_up else None


def _histogram_mean_ms(before: Mapping[str, Any], after: Mapping[str, Any],
                       key: str) -> float | None:
    """Mean of one of ``service_stats.histogram_totals``' histograms over the run, in ms."""
    old = (before.get("metrics") or {}).get(key) or {"count": 0.0, "sum": 0.0}
    new = (after.get("metrics") or {}).get(key)
    if not new or new["count"] <= old["count"]:
        return None
    return (new["sum"] - old["sum"]) / (new["count"] - old["count"]) * 1000


def _service_figures(before: Mapping[str, Any] | None,
                     after: Mapping[str, Any] | None) -> dict[str, Any]:
    """Hit rate and overhead over the run: the service's counters at the end minus the start.

    The overhead is the mean of the service's own per-request histogram (its TTFT minus the
    TTFT of the upstream call the request led; single-flight followers and pre-warm calls are
    not in it), so it compares like with like and cannot be negative. The upstream TTFT beside
    it counts only the calls a client waited for (``origin="request"``).
    """
    if not before or not after:
        return {"cache_lookups_service": None, "cache_hit_rate_service": None,
                "service_ttft_mean_ms": None, "upstream_ttft_mean_ms": None,
                "service_overhead_ms": None}
    cache0, cache1 = before["cache"], after["cache"]
    lookups = cache1["lookups"] - cache0["lookups"]
    hits = cache1["hits"] - cache0["hits"]
    count = total = 0.0
    for name, figures in after["openai"]["models"].items():
        old, new = before["openai"]["models"].get(name, {}).get("ttft_s", {}), figures["ttft_s"]
        count += new["count"] - old.get("count", 0)
        total += new["count"] * (new["mean"] or 0) - old.get("count", 0) * (old.get("mean") or 0)
    tiers = Counter(cache1.get("hits_by_tier") or {})
    tiers.subtract(cache0.get("hits_by_tier") or {})
    return {
        "cache_lookups_service": lookups,
        "cache_hit_rate_service": _round(hits / lookups) if lookups else None,
        "cache_hits_by_tier_service": {k: v for k, v in tiers.items() if v},
        "service_ttft_mean_ms": _round(total / count * 1000, 2) if count else None,
        "upstream_ttft_mean_ms": _round(_histogram_mean_ms(before, after, "upstream_ttft"), 2),
        "service_overhead_ms": _round(_histogram_mean_ms(before, after, "overhead"), 2),
    }


def _series(samples: Sequence[Mapping[str, Any]], start: float, end: float,
            ttft_target_s: float, first: float | None = None) -> dict[str, Any]:
    """Figures per time bucket by completion time, ``t_s`` seconds after the measured start.

    With a warm-up, ``first`` is its start and its buckets come first, at negative times (the
    report shades them). Requests finishing after ``end`` (the stop tail) are not plotted.
    """
    first = start if first is None else first
    bucket = max(1.0, math.ceil((end - first) / _SERIES_POINTS))
    before = math.ceil((start - first) / bucket)
    n = max(1, before + math.ceil((end - start) / bucket))
    done: list[list[Mapping[str, Any]]] = [[] for _ in range(n)]
    for s in samples:
        index = before + math.floor((_finished(s) - start) / bucket)
        if index >= 0 and _finished(s) <= end:
            done[min(n - 1, index)].append(s)
    hits = lookups = 0
    series: dict[str, list[Any]] = {
        "t_s": [], "requests_per_s": [], "goodput_per_s": [], "errors": [],
        "hit_rate_cumulative": [], "full_response_avg_s": [], "ttft_p50_s": [], "ttft_p95_s": [],
        "users": []}
    for i, group in enumerate(done):
        if i == before:  # the measured part's hit rate starts afresh
            hits = lookups = 0
        streams = [s for s in group if s["kind"] in STREAM_KINDS]
        hits += sum(s["cache"] == "hit" for s in streams)
        lookups += sum(s["cache"] is not None for s in streams)
        misses = [s["total_ms"] / 1000 for s in streams if s["ok"] and s["cache"] == "miss"]
        ttft = [s["ttft_ms"] / 1000 for s in streams if s["ttft_ms"] is not None]
        series["t_s"].append((i + 1 - before) * bucket)
        series["requests_per_s"].append(_round(len(group) / bucket, 3))
        series["goodput_per_s"].append(
            _round(sum(_is_good(s, ttft_target_s) for s in group) / bucket, 3))
        series["errors"].append(sum(not s["ok"] for s in group))
        series["hit_rate_cumulative"].append(_round(hits / lookups) if lookups else None)
        series["full_response_avg_s"].append(_round(_mean(misses), 3))
        series["ttft_p50_s"].append(_round(percentile(ttft, 0.50), 3))
        series["ttft_p95_s"].append(_round(percentile(ttft, 0.95), 3))
        series["users"].append(max((s.get("users", 0) for s in group), default=None))
    return {"bucket_s": bucket, "warmup_until_s": 0.0 if before else None, **series}


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
    summary: dict[str, Any] = {
        "schema": 1,
        "run": dict(run),
        "requests": len(samples),
        "requests_by_kind": dict(Counter(s["kind"] for s in samples)),
        "requests_by_turn": dict(Counter(s["turn"] for s in samples)),
        "errors": len(errors),
        "error_rate": _round(len(errors) / len(samples)) if samples else None,
        "errors_by_reason": dict(Counter(s["error"] for s in errors).most_common(10)),
        **_rates(samples, start, until, ttft_target_s),
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
    summary["verdict"] = overall_verdict([*summary["targets"], *summary["thresholds"]])
    return summary
