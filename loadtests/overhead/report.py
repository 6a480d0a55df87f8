"""The overhead run's Markdown table and offline HTML page, written from ``summary.json`` alone.

The HTML page must open anywhere (a CI artifact, a laptop without network), so its two plots —
TTFT overhead against streams open, and CPU per answer — are inline SVG drawn here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from html import escape
from typing import Any

__all__ = ["render_html", "render_markdown"]

_COLOURS = ("#4a7bd0", "#d0704a", "#3aa36b", "#9a5bd0")


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _signed(value: float | None) -> str:
    return "" if value is None else f" ({value:+.1f})"


def _errors(figures: Mapping[str, Any]) -> str:
    if not figures["errors"]:
        return "0"
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(figures["error_kinds"].items()))
    return f"{figures['errors']} ({kinds})"


def render_markdown(summary: Mapping[str, Any]) -> str:
    """One row per point and side; Δ is against direct at the same point."""
    rows = [
        "| streams | side | answers | errors | TTFT p50 ms (Δ) | TTFT p99 ms (Δ) | answers/s "
        "| CPU ms/answer miss | CPU ms/answer hit | hit TTFT p50 ms | upstream CPU ms/answer "
        "| CPU ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for point in summary["points"]:
        for name, side in point["sides"].items():
            overhead = side.get("overhead_ms", {})
            hit = point["hits"].get(name)
            cpu = side["cpu_ms_per_answer"]
            rows.append(
                f"| {point['name']} | {name} | {side['answers']} | {_errors(side)} "
                f"| {_num(side['ttft_ms']['p50'])}{_signed(overhead.get('p50'))} "
                f"| {_num(side['ttft_ms']['p99'])}{_signed(overhead.get('p99'))} "
                f"| {_num(side['answers_per_s'])} "
                f"| {_num(cpu.get('server'), 2)} "
                f"| {_num(hit['cpu_ms_per_answer'].get('server'), 2) if hit else '-'} "
                f"| {_num(hit['ttft_ms']['p50']) if hit else '-'} "
                f"| {_num(cpu.get('upstream'), 2)} | {_num(side.get('cpu_ratio'), 2)} |"
            )
    config = summary["config"]
    fixed, idle = config["fixed"], config["idle"]
    machine = summary["machine"]
    rows.append(
        f"\nUpstream: {fixed['ttft_ms']} ms first token, {fixed['itl_ms']:g} ms a token, "
        f"{fixed['tokens']} tokens (idle points: {idle['itl_ms'] / 1000:g} s a token, "
        f"{idle['tokens']} tokens). Service: {config['workers']} worker(s). "
        f"Machine: {machine['cpus']} CPUs, {machine['cpu_model'] or 'unknown CPU'}; "
        f"the client runs on the same machine."
    )
    for point in summary["points"]:
        for key, label in (("telemetry_on_off", "Telemetry on/off"),
                           ("transport_lean_over_httpx", "Lean/httpx transport")):
            on_off = point.get(key)
            if on_off:
                rows.append(f"\n{label} at {point['name']} streams: CPU per answer "
                            f"{_num(on_off['cpu_per_answer'], 3)}, TTFT p50 "
                            f"{_num(on_off['ttft_p50'], 3)}, answers/s "
                            f"{_num(on_off['answers_per_s'], 3)}.")
    gate = summary.get("gate")
    if gate:
        rows.append(f"\nGate: {gate['verdict']} — {gate['message']}")
    return "\n".join(rows)


def _chart(title: str, y_label: str, series: Mapping[str, Sequence[tuple[float, float]]]) -> str:
    """A multi-series line chart; x is streams open, drawn on a log scale (1 to thousands)."""
    width, height, left, right, top, bottom = 680, 280, 64, 140, 30, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    xs = [x for points in series.values() for x, _ in points]
    ys = [y for points in series.values() for _, y in points]
    if not xs:
        return f"<p>{escape(title)}: no data</p>"
    x_lo, x_hi = math.log10(min(xs)), math.log10(max(xs))
    x_span = (x_hi - x_lo) or 1.0
    y_hi = max([*ys, 0.0]) * 1.1 or 1.0
    y_lo = min([*ys, 0.0])

    def px(x: float) -> float:
        return left + plot_w * (math.log10(x) - x_lo) / x_span

    def py(y: float) -> float:
        return top + plot_h - plot_h * (y - y_lo) / (y_hi - y_lo)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" font-family="sans-serif" font-size="11">',
             f'<text x="{left}" y="18" font-size="13" font-weight="bold">{escape(title)}</text>',
             f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" '
             'stroke="#bbb"/>',
             f'<text x="14" y="{top + plot_h / 2}" transform="rotate(-90 14 {top + plot_h / 2})"'
             f' text-anchor="middle">{escape(y_label)}</text>',
             f'<text x="{left + plot_w / 2}" y="{height - 6}" text-anchor="middle">'
             'streams open (log scale)</text>']
    for i in range(5):
        value = y_lo + (y_hi - y_lo) * i / 4
        parts.append(f'<text x="{left - 4}" y="{py(value) + 4:.1f}" text-anchor="end">'
                     f'{value:.3g}</text>')
    for x in sorted(set(xs)):
        parts.append(f'<text x="{px(x):.1f}" y="{top + plot_h + 14}" text-anchor="middle">'
                     f'{x:g}</text>')
    if y_lo < 0:
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{py(0):.1f}" y2="{py(0):.1f}"'
                     ' stroke="#999" stroke-dasharray="3 3"/>')
    for index, (name, points) in enumerate(series.items()):
        colour = _COLOURS[index % len(_COLOURS)]
        coords = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in sorted(points))
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                     f'points="{coords}"/>')
        parts.extend(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}"/>'
                     for x, y in points)
        legend_y = top + 14 + 16 * index
        parts.append(f'<rect x="{left + plot_w + 10}" y="{legend_y - 9}" width="10" height="10"'
                     f' fill="{colour}"/><text x="{left + plot_w + 24}" y="{legend_y}">'
                     f'{escape(name)}</text>')
    return "\n".join([*parts, "</svg>"])


_Pick = Callable[[Mapping[str, Any]], list[tuple[str, float | None]]]


def _series(summary: Mapping[str, Any], pick: _Pick) -> dict[str, list[tuple[float, float]]]:
    series: dict[str, list[tuple[float, float]]] = {}
    for point in summary["points"]:
        for label, value in pick(point):
            if value is not None:
                series.setdefault(label, []).append((float(point["streams"]), float(value)))
    return series


def render_html(summary: Mapping[str, Any]) -> str:
    """The run's page: both plots and the table, no external resources."""
    def overhead(point: Mapping[str, Any]) -> list[tuple[str, float | None]]:
        return [(f"{name} {q}", side["overhead_ms"][q])
                for name, side in point["sides"].items() if "overhead_ms" in side
                for q in ("p50", "p99")]

    def cpu(point: Mapping[str, Any]) -> list[tuple[str, float | None]]:
        found: list[tuple[str, float | None]] = []
        for name, side in point["sides"].items():
            found.append((f"{name} miss" if "server" in side["cpu_ms_per_answer"]
                          else f"upstream ({name})",
                          side["cpu_ms_per_answer"].get("server",
                                                        side["cpu_ms_per_answer"].get("upstream"))))
        for name, hit in point["hits"].items():
            found.append((f"{name} hit", hit["cpu_ms_per_answer"].get("server")))
        return found

    table = render_markdown(summary)
    return "\n".join([
        "<!doctype html><html><head><meta charset='utf-8'><title>chatperf overhead</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:1100px}"
        "pre{background:#f6f6f6;padding:1em;overflow-x:auto}</style></head><body>",
        f"<h1>chatperf overhead — {escape(summary['started'])}</h1>",
        _chart("TTFT overhead against direct (ms)", "ms added to TTFT",
               _series(summary, overhead)),
        _chart("CPU per answer (ms)", "CPU ms per answer", _series(summary, cpu)),
        f"<pre>{escape(table)}</pre>",
        "</body></html>",
    ])
