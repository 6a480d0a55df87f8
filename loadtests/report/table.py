"""The plain-text verdict table printed at the end of a run and by the gate."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["format_rate", "format_value", "measured_window", "verdict_table"]


def format_value(value: float | None, unit: str) -> str:
    """A figure as a reader wants it: seconds with ms precision, ratios as percentages."""
    if value is None:
        return "no data"
    if unit == "ratio":
        return f"{value * 100:.1f} %"
    if unit == "ms":
        return f"{value:.1f} ms"
    return f"{value:.3f} s"


def format_rate(value: float | None) -> str:
    """Requests per second."""
    return "no data" if value is None else f"{value:.2f}/s"


def measured_window(summary: Mapping[str, Any]) -> str | None:
    """What was judged — the measured seconds and their requests — then the warm-up before
    them, on a line of its own so its figures are not read as the run's."""
    run = summary["run"]
    if "warmup_s" not in run:  # a summary written before warm-ups existed
        return None
    judged = (f"judged: {run['duration_s']} s of load, {summary['requests']} requests, "
              f"{summary['errors']} errors")
    if not run["warmup_s"]:
        return f"{judged}, from a cold start (no warm-up)"
    w = summary["warmup"]
    return (f"{judged}\nnot counted: the {run['warmup_s']} s warm-up before them "
            f"({w['requests']} requests, {w['errors']} errors, cache hit rate "
            f"{format_value(w['cache_hit_rate'], 'ratio')} from a cold cache)")


def _memory(rss: Mapping[str, Any]) -> str:
    growth = rss["growth_pct"]
    slope = rss["slope_mb_per_h"]
    restarted = rss["worker_pids_seen"] - rss["workers"]
    workers = f"{rss['workers']} worker{'' if rss['workers'] == 1 else 's'}"
    return (f"memory (RSS, {workers}): {rss['start_mb']:.1f} MB → "
            f"{rss['end_mb']:.1f} MB, growth "
            f"{'no data' if growth is None else f'{growth:+.2f} %'} ({rss['method']}); "
            f"slope {'no data' if slope is None else f'{slope:+.1f} MB/h'}; master "
            f"{rss['master_start_mb']:.1f} → {rss['master_end_mb']:.1f} MB"
            + (f"; semantic index {rss['semantic_index_start']} → {rss['semantic_index_end']} "
               "entries" if rss.get("semantic_index_end") is not None else "")
            + (f"; {restarted} worker(s) replaced during the run" if restarted > 0 else ""))


def _endpoint_table(endpoints: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Per endpoint, as Locust's and k6's end-of-test tables: only when there are several."""
    if len(endpoints) < 2:
        return []
    rows = [("endpoint", "requests", "errors", "req/s", "TTFT p50", "p95", "full p50", "p95")]
    for name, e in endpoints.items():
        rows.append((name, str(e["requests"]), str(e["errors"]), format_rate(e["throughput_rps"]),
                     format_value(e["ttft_p50_s"], "s"), format_value(e["ttft_p95_s"], "s"),
                     format_value(e["full_response_p50_s"], "s"),
                     format_value(e["full_response_p95_s"], "s")))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["", *("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                  for row in rows), ""]


def _instance_table(fleet: Mapping[str, Any] | None) -> list[str]:
    """Behind a proxy: what each instance did over the run, then the totals judged above."""
    if not fleet:
        return []
    rows = [("instance", "requests", "cache hit rate", "lookups", "upstream calls", "RSS")]
    for name, f in [*((i["instance"], i) for i in fleet["instances"]), ("total", fleet["total"])]:
        rss = "no data" if f["rss_mb"] is None else f"{f['rss_mb']:.1f} MB"
        rows.append((name, str(f["requests"]), format_value(f["cache_hit_rate"], "ratio"),
                     str(f["cache_lookups"]), str(f["upstream_calls"]), rss))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["", *("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                  for row in rows), ""]


def _overhead(summary: Mapping[str, Any]) -> str:
    overhead = summary.get("service_overhead_ms")
    if overhead is None:
        return ("service overhead: no data (no upstream call led by a request, or the service "
                "exposes no chat_time_to_first_token_overhead_seconds)")
    line = (f"service overhead {overhead:.1f} ms per request that led an upstream call: its "
            f"TTFT {format_value(summary.get('service_ttft_led_mean_ms'), 'ms')} = the upstream "
            f"call's {format_value(summary.get('upstream_ttft_mean_ms'), 'ms')} + "
            f"{overhead:.1f} ms (means over {summary.get('led_requests')} requests")
    calls = summary.get("upstream_calls")
    if calls is not None and calls != summary.get("led_requests"):
        line += f"; the upstream mean over {calls} calls"
    return line + ")"


def _variants(summary: Mapping[str, Any]) -> str:
    return (f"cache variants: {format_value(summary.get('cache_variant_hit_share'), 'ratio')} "
            f"of hits served a further answer · {summary['cache_variants_made']} made by "
            f"{summary['cache_variant_upstream_calls']} extra upstream calls "
            f"({summary.get('cache_variant_output_tokens')} output tokens; in the background, "
            "not in the hit rate or TTFT)")


def _extras(summary: Mapping[str, Any]) -> list[str]:
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(summary["requests_by_kind"].items()))
    lines = [
        f"requests {summary['requests']} ({kinds}) · errors {summary['errors']} "
        f"({format_value(summary['error_rate'], 'ratio')}) · "
        f"throughput {format_rate(summary.get('throughput_rps'))} (streams "
        f"{format_rate(summary.get('stream_throughput_rps'))}) · "
        f"goodput {format_rate(summary.get('goodput_rps'))} (streams whose first token came "
        "within the TTFT target)",
        f"TTFT p50 {format_value(summary['ttft_p50_s'], 's')} · "
        f"p95 {format_value(summary['ttft_p95_s'], 's')} · "
        f"p99 {format_value(summary['ttft_p99_s'], 's')} over {summary['ttft_samples']} streams",
        f"tokens: {summary.get('input_tokens_total')} in, {summary.get('output_tokens_total')} "
        f"out, {summary.get('output_tokens_per_s')} output tokens/s · TPOT (misses) mean "
        f"{format_value(summary.get('tpot_mean_ms'), 'ms')}, p99 "
        f"{format_value(summary.get('tpot_p99_ms'), 'ms')} over {summary.get('tpot_samples')}",
    ]
    lines += _endpoint_table(summary.get("endpoints") or {})
    lines += _instance_table(summary.get("instances"))
    if summary.get("browser_answers"):
        lines.append(
            f"browser first paint p50 {format_value(summary['browser_first_paint_p50_s'], 's')} · "
            f"p95 {format_value(summary['browser_first_paint_p95_s'], 's')} over "
            f"{summary['browser_first_paint_samples']} answers painted in "
            f"{summary['run'].get('browsers')} browsers ({summary['browser_errors']} errors), "
            "send to first text on screen, beside the protocol TTFT above")
    lines.append(_overhead(summary))
    service_rate = summary.get("cache_hit_rate_service")
    agree = "agree" if summary["cache_hit_rate_agree"] else "DISAGREE"
    lines.append(
        f"cache hit rate: service {format_value(service_rate, 'ratio')} over "
        f"{summary.get('cache_lookups_service')} lookups · samples "
        f"{format_value(summary['cache_hit_rate_samples'], 'ratio')} over "
        f"{summary['cache_lookups_samples']} ({agree})"
        + (f" · pack {summary['run']['cache_pack']}" if "cache_pack" in summary["run"] else ""))
    if summary.get("cache_variant_upstream_calls") is not None:
        lines.append(_variants(summary))
    if summary.get("cache_backend_errors"):
        lines.append(f"CACHE OUTAGE: {summary['cache_backend_errors']} lookups failed in the "
                     "cache backend (Redis down or slow): those answers went uncached and count "
                     "as misses")
    if summary.get("baseline_settings_differ"):
        lines.append("warning: the baseline ran with other settings: "
                     + ", ".join(summary["baseline_settings_differ"]))
    if summary.get("rss"):
        lines.append(_memory(summary["rss"]))
    for reason, count in summary["errors_by_reason"].items():
        lines.append(f"error x{count}: {reason}")
    return lines


def _measured(target: Mapping[str, Any]) -> str:
    """The value, with its 95 % interval when the run was too small to judge it."""
    text = format_value(target["measured"], target["unit"])
    interval = target.get("interval")
    if target.get("note"):
        text += f" ({target['note']})"
    elif target["result"] == "inconclusive":
        low, high = (format_value(v, target["unit"]).replace("no data", "none")
                     for v in interval or (None, None))
        text += f" (95 % bounds {low} to {high}: too few samples to tell, run longer)"
    return text


def verdict_table(summary: Mapping[str, Any]) -> str:
    """Each target with threshold, measured value and PASS/FAIL, then the run's key figures."""
    rows = [("target", "threshold", "measured", "result")]
    for t in summary["targets"]:
        rows.append((t["label"], f"{t['op']} {format_value(t['threshold'], t['unit'])}",
                     _measured(t), t["result"].upper()))
    for th in summary.get("thresholds", []):
        stat = f" {th['stat']}" if th.get("stat") else ""
        rows.append((f"threshold: {th['metric']}{stat}", f"{th['op']} {th['value']:g}",
                     "no data" if th["measured"] is None else f"{th['measured']:g}",
                     th["result"].upper()))
    for b in summary.get("baseline") or []:
        rows.append((f"vs baseline: {b['metric']}", f"{b['limit_text']}",
                     f"{b['measured']}", "PASS" if b["passed"] else "FAIL"))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    window = measured_window(summary)
    lines = [f"verdict: {summary['verdict'].upper()}", *(window.splitlines() if window else [])]
    aborted = summary["run"].get("aborted")
    if aborted:
        lines.append(f"ABORTED after {aborted['after_s']} s of measuring: threshold "
                     f"{aborted['threshold']} crossed (measured {aborted['measured']}, over "
                     f"{aborted['requests']} requests; abortOnFail)")
    for i, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        if i == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join([*lines, "", *_extras(summary)])
