"""The plain-text verdict table printed at the end of a run and by the gate."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["format_value", "verdict_table"]


def format_value(value: float | None, unit: str) -> str:
    """A figure as a reader wants it: seconds with ms precision, ratios as percentages."""
    if value is None:
        return "no data"
    if unit == "ratio":
        return f"{value * 100:.1f} %"
    if unit == "ms":
        return f"{value:.1f} ms"
    return f"{value:.3f} s"


def _extras(summary: Mapping[str, Any]) -> list[str]:
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(summary["requests_by_kind"].items()))
    lines = [
        f"requests {summary['requests']} ({kinds}) · errors {summary['errors']} "
        f"({format_value(summary['error_rate'], 'ratio')}) · "
        f"throughput {summary['throughput_rps'] or 0:.2f}/s · "
        f"goodput {format_value(summary['goodput'], 'ratio')}",
        f"TTFT p50 {format_value(summary['ttft_p50_s'], 's')} · "
        f"p95 {format_value(summary['ttft_p95_s'], 's')} · "
        f"p99 {format_value(summary['ttft_p99_s'], 's')} over {summary['ttft_samples']} streams",
    ]
    overhead = summary.get("service_overhead_ms")
    if overhead is not None:
        lines.append(
            f"service overhead {overhead:.1f} ms (service TTFT "
            f"{summary['service_ttft_mean_ms']:.1f} ms - upstream's own "
            f"{summary['upstream_ttft_mean_ms']:.1f} ms, means over cache misses)")
    else:
        lines.append("service overhead: no data (no upstream calls, or the service's stats "
                     "were not readable)")
    service_rate = summary.get("cache_hit_rate_service")
    agree = "agree" if summary["cache_hit_rate_agree"] else "DISAGREE"
    lines.append(
        f"cache hit rate: service {format_value(service_rate, 'ratio')} over "
        f"{summary.get('cache_lookups_service')} lookups · samples "
        f"{format_value(summary['cache_hit_rate_samples'], 'ratio')} over "
        f"{summary['cache_lookups_samples']} ({agree})")
    for reason, count in summary["errors_by_reason"].items():
        lines.append(f"error x{count}: {reason}")
    return lines


def verdict_table(summary: Mapping[str, Any]) -> str:
    """Each target with threshold, measured value and PASS/FAIL, then the run's key figures."""
    rows = [("target", "threshold", "measured", "result")]
    for t in summary["targets"]:
        rows.append((t["label"], f"{t['op']} {format_value(t['threshold'], t['unit'])}",
                     format_value(t["measured"], t["unit"]), "PASS" if t["passed"] else "FAIL"))
    for b in summary.get("baseline", []):
        rows.append((f"vs baseline: {b['metric']}", f"{b['limit_text']}",
                     f"{b['measured']}", "PASS" if b["passed"] else "FAIL"))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [f"verdict: {summary['verdict'].upper()}"]
    for i, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        if i == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join([*lines, "", *_extras(summary)])
