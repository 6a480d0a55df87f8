"""``gate.md``: the verdict as Markdown, fit for a CI job summary (``$GITHUB_STEP_SUMMARY``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loadtests.report.table import format_rate, format_value, measured_window

__all__ = ["render_markdown"]


def render_markdown(summary: Mapping[str, Any]) -> str:
    """Targets, baseline comparisons and the run's key figures as Markdown tables."""
    mark = {True: "✅ PASS", False: "❌ FAIL"}

    def _result_mark(target: Mapping[str, Any]) -> str:
        if target["result"] == "inconclusive" and target.get("note"):
            return f"⚠️ INCONCLUSIVE ({target['note']})"
        if target["result"] == "inconclusive":
            low, high = (format_value(v, target["unit"]) for v in target["interval"])
            return f"⚠️ INCONCLUSIVE (95 % CI {low} to {high}; run longer)"
        return mark[target["passed"]]

    window = measured_window(summary)
    lines = [f"## chatperf load gate: {summary['verdict'].upper()}", "",
             *([window, ""] if window else []),
             "| target | threshold | measured | result |", "|---|---|---|---|"]
    for t in summary["targets"]:
        lines.append(f"| {t['label']} | {t['op']} {format_value(t['threshold'], t['unit'])} "
                     f"| {format_value(t['measured'], t['unit'])} | {_result_mark(t)} |")
    if summary.get("thresholds"):
        lines += ["", "| threshold | measured | result |", "|---|---|---|"]
        for th in summary["thresholds"]:
            measured = "no data" if th["measured"] is None else f"{th['measured']:g}"
            lines.append(f"| `{th['threshold']}` | {measured} | {mark[th['passed']]} |")
    if summary.get("baseline"):
        lines += ["", "| vs baseline | baseline | measured | allowed | result |",
                  "|---|---|---|---|---|"]
        for b in summary["baseline"]:
            lines.append(f"| {b['metric']} | {b['baseline']} | {b['measured']} "
                         f"| {b['limit_text']} | {mark[b['passed']]} |")
    overhead = summary.get("service_overhead_ms")
    lines += [
        "", f"- requests: {summary['requests']}, errors: {summary['errors']} "
        f"({format_value(summary['error_rate'], 'ratio')}), throughput "
        f"{format_rate(summary.get('throughput_rps'))}, goodput "
        f"{format_rate(summary.get('goodput_rps'))} (first token within the TTFT target)",
        f"- TTFT p50 / p95 / p99: {format_value(summary['ttft_p50_s'], 's')} / "
        f"{format_value(summary['ttft_p95_s'], 's')} / {format_value(summary['ttft_p99_s'], 's')}",
        f"- service overhead: {format_value(overhead, 'ms')}",
        *([f"- memory growth after the warm-up: {summary['rss_growth_pct']:+.2f} % "
           f"({summary['rss']['method']})"] if summary.get("rss_growth_pct") is not None else []),
        f"- run: `{summary['run'].get('id', '')}`, profile `{summary['run'].get('profile')}`, "
        f"{summary['run'].get('users')} users, {summary['run'].get('duration_s')} s, cache pack "
        f"`{summary['run'].get('cache_pack')}`",
    ]
    return "\n".join(lines) + "\n"
