"""``report.html``: one self-contained, offline page per run, rendered with Jinja2.

The page follows what performance engineers expect from guidellm's and k6's reports: the
verdict and the targets with their 95 % intervals; percentile tables (p50/p90/p95/p99, mean)
split by cache outcome and model tier; the TTFT distribution of hits and misses; time series
with the warm-up shaded and the targets drawn; the deltas against a baseline run; the run's
settings and links to its other files. Every figure comes from the finished summary (and the
baseline's); this module only arranges them (``charts.py`` does the chart arithmetic).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from loadtests.baseline import deltas
from loadtests.breakdown import QUANTILES
from loadtests.report.charts import Chart, histogram_chart, line_chart
from loadtests.report.table import format_rate, format_value, measured_window

__all__ = ["RUN_FILES", "render_html", "render_page"]

# The files of a run folder, in the order a reader wants them, with what each holds.
RUN_FILES: tuple[tuple[str, str], ...] = (
    ("summary.json", "every figure and the verdict"),
    ("verdict.txt", "the verdict table as printed"),
    ("samples.jsonl", "one line per measured request"),
    ("warmup.jsonl", "the warm-up's requests"),
    ("locust.html", "Locust's own report"),
    ("locust_stats.csv", "Locust's request statistics"),
    ("locust_stats_history.csv", "Locust's statistics over time"),
    ("locust_failures.csv", "Locust's failures"),
    ("gate.md", "the gate's verdict (after make gate)"),
    ("junit.xml", "the gate's test report"),
    ("rss.jsonl", "the soak's memory readings"),
    ("prometheus/", "with --prometheus: its scrape config and data"),
    ("logs/", "logs of every process the run started"),
)

_WRITTEN_LATER = ("gate.md", "junit.xml")  # by the gate, after the report
_NONE = "\u2013"  # an en dash where a figure has no data
_MINUS = "\u2212"  # a real minus sign in deltas

_env = Environment(loader=PackageLoader("loadtests.report", ""), undefined=StrictUndefined,
                   autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return _NONE
    if unit == "rps":
        return format_rate(value)
    if unit == "MB":
        return f"{value:.1f} MB"
    if unit == "tok/s":
        return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"
    if unit == "ms":
        return f"{value:.1f} ms" if value < 1000 else f"{value / 1000:.2f} s"
    if unit == "s":
        return f"{value * 1000:.1f} ms" if abs(value) < 1 else f"{value:.2f} s"
    return format_value(value, unit)


def _count(value: int | None) -> str:
    return _NONE if value is None else str(value)


def _signed(value: float, unit: str) -> str:
    sign = "+" if value > 0 else _MINUS if value < 0 else "\u00b1"
    if unit == "ratio":  # a change of a share is in percentage points, not per cent
        return f"{sign}{abs(value) * 100:.1f} points"
    return sign + _fmt(abs(value), unit)


def _target(summary: Mapping[str, Any], key: str) -> float | None:
    return next((t["threshold"] for t in summary["targets"] if t["target"] == key), None)


def _seconds(v: float) -> str:
    return f"{v:.2f} s" if v < 10 else f"{v:.1f} s"


def _charts(summary: Mapping[str, Any]) -> list[Chart]:
    series, hist = summary["series"], summary["ttft_histogram"]
    t, warm = series["t_s"], series.get("warmup_until_s")
    x_label = "seconds after the warm-up" if warm is not None else "seconds into the run"
    ttft_target = _target(summary, "perceived_p95_seconds")
    full_target = _target(summary, "full_response_avg_seconds_max")
    hit_target = _target(summary, "cache_hit_rate_min")
    error_target = _target(summary, "error_rate_max")
    common = {"warmup_until": warm, "stop_at": series.get("stop_at_s")}
    charts = []
    if "hit" in hist:
        charts.append(histogram_chart(
            "Time to first token: cache hits and misses", hist["edges_s"],
            [("cache hit", hist["hit"]), ("cache miss / other", hist["miss"])],
            "time to first token", target=ttft_target,
            target_label=f"p95 target {ttft_target:g} s" if ttft_target else ""))
    charts += [
        line_chart("TTFT over time", t, [("p50", series.get("ttft_p50_s", [None] * len(t))),
                                         ("p95", series["ttft_p95_s"])],
                   x_label, _seconds, target=ttft_target,
                   target_label=f"p95 target {ttft_target:g} s" if ttft_target else "", **common),
        line_chart("TTFT p95 over time: cache hits and misses", t,
                   [("misses", series.get("ttft_p95_miss_s", [None] * len(t))),
                    ("hits", series.get("ttft_p95_hit_s", [None] * len(t)))],
                   x_label, _seconds, target=ttft_target,
                   target_label=f"p95 target {ttft_target:g} s" if ttft_target else "", **common),
        line_chart("Full response, mean of cache misses", t,
                   [("mean", series["full_response_avg_s"])], x_label, _seconds, target=full_target,
                   target_label=f"target {full_target:g} s" if full_target else "", **common),
        line_chart("Throughput and goodput", t,
                   [("requests/s", series["requests_per_s"]),
                    ("goodput/s", series.get("goodput_per_s", [None] * len(t)))],
                   x_label, lambda v: f"{v:g}/s", note="goodput: streams whose first token came "
                   "within the TTFT target; requests by the time they finished", **common),
        line_chart("Concurrency: requests in flight (mean per interval)", t,
                   [("in flight", series.get("concurrency", [None] * len(t))),
                    ("users", series["users"])], x_label, lambda v: f"{v:g}", **common),
        line_chart("Cache hit rate (cumulative, restarts after the warm-up)", t,
                   [("hit rate", series["hit_rate_cumulative"])], x_label,
                   lambda v: f"{v * 100:.0f} %", target=hit_target, y_cap=1.0,
                   target_label=f"target {hit_target * 100:.0f} %" if hit_target else "",
                   **common),
        line_chart("Error rate per interval", t,
                   [("errors", series.get("error_rate", [None] * len(t)))], x_label,
                   lambda v: f"{v * 100:.1f} %", target=error_target,
                   target_label=f"target {error_target * 100:g} %" if error_target else "",
                   **common),
    ]
    rss, rss_mb = summary.get("rss"), summary.get("rss_mb")
    if rss and rss_mb:
        growth = rss["growth_pct"]
        title = "Service workers' memory (RSS summed)" + (
            f", growth {growth:+.2f} %" if growth is not None else "")
        charts.append(line_chart(title, rss_mb["t_s"], [("workers", rss_mb["workers"]),
                                                        ("master", rss_mb["master"])],
                                 "seconds after the warm-up", lambda v: f"{v:.0f} MB"))
    return charts


def _cards(summary: Mapping[str, Any]) -> list[dict[str, str]]:
    return [
        {"label": "requests", "value": str(summary["requests"]),
         "detail": f"{summary['errors']} errors ({format_value(summary['error_rate'], 'ratio')})"},
        {"label": "TTFT p95", "value": _fmt(summary["ttft_p95_s"], "s"),
         "detail": f"p50 {_fmt(summary['ttft_p50_s'], 's')}"},
        {"label": "cache hit rate", "value": format_value(summary["cache_hit_rate"], "ratio"),
         "detail": ""},
        {"label": "full response (misses)", "value": _fmt(summary["full_response_avg_s"], "s"),
         "detail": "mean"},
        {"label": "throughput", "value": format_rate(summary.get("throughput_rps")),
         "detail": f"streams {format_rate(summary.get('stream_throughput_rps'))}, goodput "
                   f"{format_rate(summary.get('goodput_rps'))}"},
        {"label": "output tokens/s", "value": _fmt(summary.get("output_tokens_per_s"), "tok/s"),
         "detail": f"TPOT {_fmt(summary.get('tpot_mean_ms'), 'ms')} (misses)"},
        {"label": "service overhead", "value": _fmt(summary.get("service_overhead_ms"), "ms"),
         "detail": "per request, vs the upstream call it led"},
    ]


def _counts(counts: Mapping[Any, int]) -> str:
    """``a 3, b 1`` sorted by name (a ``null`` name, e.g. a request without a turn, as "none")."""
    named = sorted((str(k) if k is not None else "none", v) for k, v in counts.items())
    return ", ".join(f"{k} {v}" for k, v in named) or _NONE


def _figures(summary: Mapping[str, Any]) -> list[tuple[str, str]]:
    rows = [
        ("requests by kind", _counts(summary["requests_by_kind"])),
        ("requests by workload turn", _counts(summary["requests_by_turn"])),
        ("measured window", f"{summary.get('window_s')} s; "
                            f"{summary.get('stop_tail_requests', 0)} requests finished after the "
                            "load stopped (counted, but not per second)"),
        ("service TTFT = upstream TTFT + overhead",
         f"{_fmt(summary.get('service_ttft_led_mean_ms'), 'ms')} = "
         f"{_fmt(summary.get('upstream_ttft_mean_ms'), 'ms')} + "
         f"{_fmt(summary.get('service_overhead_ms'), 'ms')} (means over the "
         f"{summary.get('led_requests')} requests that led an upstream call)"),
        ("tokens", f"{summary.get('input_tokens_total')} in, {summary.get('output_tokens_total')}"
                   f" out; {_fmt(summary.get('output_tokens_per_s'), 'tok/s')} output tokens/s"),
        ("client minus service TTFT (median)", _fmt(summary.get("transport_overhead_ms"), "ms")),
        ("cache hit rate, service vs samples",
         f"{format_value(summary.get('cache_hit_rate_service'), 'ratio')} over "
         f"{summary.get('cache_lookups_service')} lookups vs "
         f"{format_value(summary.get('cache_hit_rate_samples'), 'ratio')} over "
         f"{summary.get('cache_lookups_samples')}"),
        ("hits by tier", _counts(summary.get("cache_hits_by_tier_samples") or {})),
        ("hits served a further answer (variant)",
         f"{format_value(summary.get('cache_variant_hit_share'), 'ratio')}; "
         f"{_count(summary.get('cache_variant_upstream_calls'))} extra upstream calls made "
         f"{_count(summary.get('cache_variants_made'))} in the background"),
        ("models", _counts(summary["models"])),
    ]
    if summary.get("warmup"):
        w = summary["warmup"]
        rows.append(("warm-up (not counted)",
                     f"{w['duration_s']} s, {w['requests']} requests, {w['errors']} errors, "
                     f"cache hit rate {format_value(w['cache_hit_rate'], 'ratio')}"))
    return rows


def _when(epoch: float | None) -> str:
    if epoch is None:
        return _NONE
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _settings(run: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The run's settings as label/value rows: times readable, options one row each."""
    rows = []
    for key, value in run.items():
        if key == "options":
            continue
        text = _when(value) if key.endswith("_epoch_s") and value else (
            _NONE if value is None else str(value))
        rows.append((key.removesuffix("_epoch_s").replace("_", " "), text))
    for key, value in sorted((run.get("options") or {}).items()):
        rows.append((f"option {key}", str(value)))
    return rows


def render_page(template: str, **context: Any) -> str:
    """Any page of the report package (``page.html``, ``overhead.html``) with its context: one
    stylesheet and one SVG chart macro for every page the harness writes."""
    return _env.get_template(template).render(**context)


def render_html(summary: Mapping[str, Any], baseline: Mapping[str, Any] | None = None,
                present: Iterable[str] | None = None) -> str:
    """The whole report page for one run; ``baseline`` adds the deltas, ``present`` (names in
    the run folder) limits the file links to what exists."""
    names = set(present) if present is not None else None
    files = [(name, what) for name, what in RUN_FILES
             if names is None or name.rstrip("/") in names or name in _WRITTEN_LATER]
    return render_page(
        "page.html",
        run=summary["run"], verdict=summary["verdict"], window=measured_window(summary),
        targets=summary["targets"], thresholds=summary.get("thresholds") or [],
        inconclusive=any(t["result"] == "inconclusive" for t in summary["targets"]),
        cards=_cards(summary), breakdown=summary.get("breakdown") or {},
        endpoints=summary.get("endpoints") or {}, aborted=summary["run"].get("aborted"),
        fleet=summary.get("instances"),
        outage=summary.get("cache_backend_errors"),
        settings_differ=summary.get("baseline_settings_differ") or [],
        quantiles=[f"p{round(q * 100)}" for q in QUANTILES],
        charts=_charts(summary), errors=summary["errors_by_reason"], figures=_figures(summary),
        settings=_settings(summary["run"]), files=files,
        deltas=deltas(summary, baseline) if baseline else [],
        baseline_id=(baseline or {}).get("run", {}).get("id", ""),
        fmt=_fmt, signed=_signed,
    )
