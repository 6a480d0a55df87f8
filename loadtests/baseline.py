"""A run against an accepted earlier run: which figures regressed, and every key figure's delta.

The gate fails a run whose figure is worse than the baseline's by more than that figure's noise
margin; ``report.html`` shows the same comparison as coloured deltas. Both read this one table,
so the report's red is exactly the gate's regression.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["COMPARED_SETTINGS", "DELTA_FIGURES", "MARGINS", "compare_baseline", "deltas",
           "load_baseline", "settings_differ"]

# metric → (better direction, relative margin, absolute margin). A figure regresses when it is
# worse than the baseline by more than both margins together: run-to-run noise of a one-minute
# run is a few per cent of a percentile plus a small floor, more for tail and rare-event figures.
MARGINS: Mapping[str, tuple[str, float, float]] = {
    "ttft_p95_s": ("lower", 0.20, 0.05),
    "full_response_avg_s": ("lower", 0.10, 0.25),
    "cache_hit_rate": ("higher", 0.10, 0.03),
    "error_rate": ("lower", 0.50, 0.005),
    "goodput_rps": ("higher", 0.10, 0.1),
    "service_overhead_ms": ("lower", 0.50, 10.0),
}
# The figures the report compares (label, unit, better direction); MARGINS says which can fail.
DELTA_FIGURES: Mapping[str, tuple[str, str, str]] = {
    "ttft_p50_s": ("TTFT p50", "s", "lower"),
    "ttft_p95_s": ("TTFT p95", "s", "lower"),
    "ttft_p99_s": ("TTFT p99", "s", "lower"),
    "full_response_avg_s": ("full response mean (misses)", "s", "lower"),
    "tpot_mean_ms": ("time per output token, mean (misses)", "ms", "lower"),
    "output_tokens_per_s": ("output tokens per second", "tok/s", "higher"),
    "cache_hit_rate": ("cache hit rate", "ratio", "higher"),
    "error_rate": ("error rate", "ratio", "lower"),
    "throughput_rps": ("throughput", "rps", "higher"),
    "goodput_rps": ("goodput", "rps", "higher"),
    "service_overhead_ms": ("service overhead", "ms", "lower"),
}


# Settings of ``summary.json: run`` (and its machine) that change what the figures mean: a run
# compared with a baseline that differs in one of them is compared, but said to be.
COMPARED_SETTINGS = ("users", "duration_s", "warmup_s", "shape", "mix", "think_time", "profile",
                     "service_workers", "locust_workers", "cache_backend_kind", "upstream_kind",
                     "cache_pack")


def settings_differ(summary: Mapping[str, Any], baseline: Mapping[str, Any]) -> list[str]:
    """``"users 30 (baseline 10)"`` for each compared setting (and the machine's CPUs) that
    differs; settings a summary does not record are not compared."""
    now, then = summary.get("run") or {}, baseline.get("run") or {}
    pairs = [(key, now.get(key), then.get(key)) for key in COMPARED_SETTINGS
             if key in now and key in then]
    pairs.append(("cpus", (now.get("machine") or {}).get("cpus"),
                  (then.get("machine") or {}).get("cpus")))
    return [f"{key} {a} (baseline {b})" for key, a, b in pairs
            if a is not None and b is not None and a != b]


def load_baseline(path: Path) -> dict[str, Any]:
    """The baseline's summary: ``path`` is a run folder or its ``summary.json``."""
    path = Path(path)
    data = json.loads((path / "summary.json" if path.is_dir() else path).read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a summary")
    return data


def _limit(metric: str, base: float) -> float:
    better, relative, absolute = MARGINS[metric]
    slack = abs(base) * relative + absolute
    return base + slack if better == "lower" else base - slack


def compare_baseline(summary: Mapping[str, Any],
                     baseline: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each figure the baseline has, against its margin; ``passed`` is False on a regression."""
    results = []
    for metric, (better, _relative, _absolute) in MARGINS.items():
        base, measured = baseline.get(metric), summary.get(metric)
        if base is None:
            continue
        limit = _limit(metric, base)
        if measured is None:
            passed = False
        else:
            passed = measured <= limit if better == "lower" else measured >= limit
        results.append({"metric": metric, "baseline": base, "measured": measured,
                        "limit": round(limit, 4),
                        "limit_text": f"{'<=' if better == 'lower' else '>='} {limit:.4g}",
                        "passed": passed})
    return results


def deltas(summary: Mapping[str, Any], baseline: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every key figure now, then, its change and its verdict for the report's colours.

    ``verdict``: ``better``; ``worse`` beyond the gate's margin (a regression); ``noise`` worse
    but within it; ``ungated`` worse, on a figure the gate does not judge; ``same``;
    ``no data``.
    """
    regressed = {r["metric"] for r in compare_baseline(summary, baseline) if not r["passed"]}
    rows = []
    for metric, (label, unit, better) in DELTA_FIGURES.items():
        now, then = summary.get(metric), baseline.get(metric)
        row = {"metric": metric, "label": label, "unit": unit, "now": now, "then": then,
               "delta": None, "relative": None, "verdict": "no data"}
        if now is not None and then is not None:
            delta = now - then
            row["delta"] = delta
            row["relative"] = delta / abs(then) if then else None
            improved = delta < 0 if better == "lower" else delta > 0
            if metric in regressed:
                row["verdict"] = "worse"
            elif delta == 0:
                row["verdict"] = "same"
            elif improved:
                row["verdict"] = "better"
            else:
                row["verdict"] = "noise" if metric in MARGINS else "ungated"
        rows.append(row)
    return rows
