"""``report.html``: the verdict, the run's figures, and the plots, in one self-contained file."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from loadtests.report.svg import bar_chart, line_chart
from loadtests.report.table import format_value, measured_window, verdict_table

__all__ = ["render_html"]

_STYLE = """
body { font-family: sans-serif; margin: 2em; max-width: 1400px; }
.pass { color: #187a2f; } .fail { color: #c62828; }
table { border-collapse: collapse; } td, th { padding: 4px 10px; border-bottom: 1px solid #ddd; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; }
"""


def _target_value(summary: Mapping[str, Any], key: str) -> float | None:
    return next((t["threshold"] for t in summary["targets"] if t["target"] == key), None)


def _charts(summary: Mapping[str, Any]) -> list[str]:
    series, hist = summary["series"], summary["ttft_histogram"]
    t = series["t_s"]
    warmed = summary["run"].get("warmup_s")
    label = "seconds after the warm-up" if warmed else "seconds into the run"
    ttft_target = _target_value(summary, "perceived_p95_seconds")
    full_target = _target_value(summary, "full_response_avg_seconds_max")
    hit_target = _target_value(summary, "cache_hit_rate_min")
    return [
        bar_chart("TTFT distribution (all streams)", hist["edges_s"], hist["counts"],
                  "time to first token, s", ttft_target,
                  f"p95 target {ttft_target} s" if ttft_target else ""),
        line_chart("Full response, mean of cache misses", t, series["full_response_avg_s"],
                   label, lambda v: f"{v:.1f} s", full_target,
                   f"target {full_target} s" if full_target else ""),
        line_chart("Cache hit rate (cumulative)", t, series["hit_rate_cumulative"], label,
                   lambda v: f"{v * 100:.0f} %", hit_target,
                   f"target {hit_target * 100:.0f} %" if hit_target else ""),
        line_chart("TTFT p95 per interval", t, series["ttft_p95_s"], label,
                   lambda v: f"{v:.2f} s", ttft_target),
        line_chart("Throughput (requests finished per second)", t, series["requests_per_s"],
                   label, lambda v: f"{v:.1f}"),
        line_chart("Errors per interval", t, series["errors"], label, lambda v: f"{v:.0f}"),
        line_chart("Users", t, series["users"], label, lambda v: f"{v:.0f}"),
        *_memory_charts(summary),
    ]


def _memory_charts(summary: Mapping[str, Any]) -> list[str]:
    """A soak's memory after the warm-up: the workers (whose growth is judged) and the master."""
    rss, rss_mb = summary.get("rss"), summary.get("rss_mb")
    if not rss or not rss_mb:
        return []
    growth = rss["growth_pct"]
    title = "Service workers' memory (RSS summed)" + (
        f", growth {growth:+.2f} %" if growth is not None else "")
    label = "seconds after the warm-up"
    return [line_chart(title, rss_mb["t_s"], rss_mb["workers"], label, lambda v: f"{v:.0f} MB"),
            line_chart("gunicorn master memory (RSS)", rss_mb["t_s"], rss_mb["master"], label,
                       lambda v: f"{v:.0f} MB")]


def render_html(summary: Mapping[str, Any]) -> str:
    """The whole report page for one run."""
    run = summary["run"]
    verdict = summary["verdict"]
    rows = "".join(
        f"<tr><td>{escape(t['label'])}</td><td>{escape(t['op'])} "
        f"{escape(format_value(t['threshold'], t['unit']))}</td>"
        f"<td>{escape(format_value(t['measured'], t['unit']))}</td>"
        f"<td class=\"{'fail' if t['result'] == 'fail' else 'pass'}\">"
        f"{t['result'].upper()}</td></tr>"
        for t in summary["targets"])
    settings = "".join(f"<tr><th>{escape(str(k))}</th><td>{escape(str(v))}</td></tr>"
                       for k, v in run.items())
    charts = "".join(f"<div>{chart}</div>" for chart in _charts(summary))
    title = f"chatperf load run {escape(str(run.get('id', '')))}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>{_STYLE}</style></head><body>
<h1>chatperf load run: <span class="{verdict}">{verdict.upper()}</span></h1>
<p>{escape(measured_window(summary) or "")}</p>
<table><tr><th>target</th><th>threshold</th><th>measured</th><th>result</th></tr>{rows}</table>
<h2>Figures</h2><pre>{escape(verdict_table(summary))}</pre>
<h2>Plots</h2><div class="charts">{charts}</div>
<h2>Run</h2><table>{settings}</table>
<p>Raw per-request samples: <code>samples.jsonl</code>;
Locust's own statistics: <code>locust_*.csv</code>;
every figure above: <code>summary.json</code>.</p>
</body></html>
"""
