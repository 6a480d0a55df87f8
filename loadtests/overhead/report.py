"""The overhead run's Markdown table and offline HTML page, written from ``summary.json`` alone.

The page is built as ``report.html`` is — the same stylesheet, the same SVG chart engine
(``loadtests.report.charts``), hover values, tables — so it opens anywhere offline: TTFT
overhead and CPU per answer against streams open, the table per point and side (a p99 over
fewer than 100 answers marked as the near-maximum it is), the comparisons, and where it ran.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from loadtests.report.charts import Chart, line_chart
from loadtests.report.html import render_page

__all__ = ["fixed_cost_lines", "proxy_lines", "render_html", "render_markdown"]

_P99_MIN_ANSWERS = 100  # fewer, and the top 1 % is less than one answer


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
    rows += [f"\n{line}" for line in fixed_cost_lines(summary) + proxy_lines(summary)]
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


def fixed_cost_lines(summary: Mapping[str, Any]) -> list[str]:
    """The per-request (fixed) CPU at each point: a cache hit's, and a miss's less its tokens."""
    lines = []
    for point in summary["points"]:
        fixed = point.get("fixed_cost_ms")
        if not fixed:
            continue
        text = f"Fixed cost at {point['name']} streams: cache hit {_num(fixed['hit'], 2)} ms CPU"
        if fixed["miss"] is not None:
            long_tokens, short_tokens = fixed["tokens"]
            text += (f"; miss {_num(fixed['miss'], 2)} ms CPU besides "
                     f"{_num(fixed['per_token'] * 1000, 0)} µs a token (from {long_tokens}- and "
                     f"{short_tokens}-token answers)")
        lines.append(text + ".")
    return lines


def proxy_lines(summary: Mapping[str, Any]) -> list[str]:
    """Through NGINX against the first instance reached directly, per point (``--instances``)."""
    lines = []
    for point in summary["points"]:
        parts = []
        for name, side in point["sides"].items():
            versus = side.get("vs_through")
            if versus is None:
                continue
            rate = versus["answers_per_s"]
            parts.append(
                f"{name} ({side['instances']} instance(s)): TTFT p50 "
                f"{_num(versus['ttft_p50_ms'], 2)} ms / p99 {_num(versus['ttft_p99_ms'], 1)} ms "
                f"over one instance reached directly, answers/s "
                f"{'-' if rate is None else f'{rate:.0%}'} of it, NGINX "
                f"{_num(side['cpu_ms_per_answer'].get('proxy'), 2)} ms CPU an answer")
        if parts:
            lines.append(f"NGINX at {point['name']} streams: " + "; ".join(parts) + ".")
    return lines


_Pick = Callable[[Mapping[str, Any]], list[tuple[str, float | None]]]


def _chart(summary: Mapping[str, Any], title: str, pick: _Pick,
           fmt: Callable[[float], str]) -> Chart:
    """One line per label that ``pick`` finds in each point, over streams open (log scale);
    burst points have lines of their own."""
    streams = sorted({p["streams"] for p in summary["points"]})
    xs = [float(n) for n in streams]
    found: dict[tuple[str, int], float | None] = {}
    for p in summary["points"]:
        prefix = "burst " if p.get("burst") else ""
        for label, value in pick(p):
            found[(prefix + label, p["streams"])] = value
    labels = list(dict.fromkeys(label for label, _ in found))
    lines = [(label, [found.get((label, n)) for n in streams]) for label in labels]
    values = [v for _, ys in lines for v in ys if v is not None]
    return line_chart(title, xs, lines, "streams open (log scale)", fmt, log_x=len(set(xs)) > 1,
                      y_min=min([0.0, *values]))


def _overhead(point: Mapping[str, Any]) -> list[tuple[str, float | None]]:
    return [(f"{name} {q}", side["overhead_ms"][q])
            for name, side in point["sides"].items() if "overhead_ms" in side
            for q in ("p50", "p99")]


def _cpu(point: Mapping[str, Any]) -> list[tuple[str, float | None]]:
    found: list[tuple[str, float | None]] = []
    for name, side in point["sides"].items():
        cpu = side["cpu_ms_per_answer"]
        found.append((f"{name} miss", cpu["server"]) if "server" in cpu
                     else (f"upstream ({name})", cpu.get("upstream")))
    found += [(f"{name} hit", hit["cpu_ms_per_answer"].get("server"))
              for name, hit in point["hits"].items()]
    return found


def _rows(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for point in summary["points"]:
        for name, side in point["sides"].items():
            overhead = side.get("overhead_ms", {})
            hit = point["hits"].get(name)
            cpu = side["cpu_ms_per_answer"]
            rows.append({
                "point": point["name"], "side": name, "answers": side["answers"],
                "errors": _errors(side),
                "p50": f"{_num(side['ttft_ms']['p50'])} ms{_signed(overhead.get('p50'))}",
                "p99": f"{_num(side['ttft_ms']['p99'])} ms{_signed(overhead.get('p99'))}",
                "few": side["answers"] < _P99_MIN_ANSWERS,
                "rate": _num(side["answers_per_s"]), "cpu": _num(cpu.get("server"), 2),
                "hit_cpu": _num(hit["cpu_ms_per_answer"].get("server"), 2) if hit else "-",
                "hit_p50": f"{_num(hit['ttft_ms']['p50'])} ms" if hit else "-",
                "upstream_cpu": _num(cpu.get("upstream"), 2),
                "ratio": _num(side.get("cpu_ratio"), 2)})
    return rows


def _comparisons(summary: Mapping[str, Any]) -> list[dict[str, str]]:
    found = []
    for point in summary["points"]:
        for key, label in (("telemetry_on_off", "telemetry on / off"),
                           ("transport_lean_over_httpx", "lean / httpx transport")):
            ratio = point.get(key)
            if ratio:
                found.append({"point": point["name"], "label": label,
                              "cpu": _num(ratio["cpu_per_answer"], 3),
                              "ttft": _num(ratio["ttft_p50"], 3),
                              "rate": _num(ratio["answers_per_s"], 3)})
    return found


def _settings(summary: Mapping[str, Any]) -> list[tuple[str, str]]:
    machine, config = summary["machine"], summary["config"]
    return [
        ("commit", str(summary.get("commit") or "-")),
        ("CPU", f"{machine['cpus']} CPUs, {machine.get('cpu_model') or 'unknown model'}"),
        ("platform", f"{machine.get('platform')}, Python {machine.get('python')}"),
        ("load average before / after",
         f"{machine.get('load_average_before')} / {machine.get('load_average_after')}"),
        ("service workers", str(config["workers"])),
        ("arrivals", ", ".join(config.get("arrivals") or ["spread"])),
        ("through NGINX", ", ".join(f"{n} instance(s)" for n in config.get("instances") or [])
         or "-"),
        ("measured", f"{config.get('duration_s')} s a side and point, in "
                     f"{config.get('rounds')} rounds"),
    ]


def render_html(summary: Mapping[str, Any]) -> str:
    """The run's page: both charts, the table, the comparisons, where it ran; offline."""
    fixed, idle = summary["config"]["fixed"], summary["config"]["idle"]
    rows = _rows(summary)
    return render_page(
        "overhead.html", started=summary["started"], gate=summary.get("gate"),
        upstream=(f"Upstream: {fixed['ttft_ms']} ms first token, {fixed['itl_ms']:g} ms a token, "
                  f"{fixed['tokens']} tokens (idle points: {idle['itl_ms'] / 1000:g} s a token, "
                  f"{idle['tokens']} tokens); every question new (cache misses), and one round "
                  "repeating a question (hits)."),
        charts=[_chart(summary, "TTFT the service adds, against direct", _overhead,
                       lambda v: f"{v:.1f} ms"),
                _chart(summary, "CPU per answer", _cpu, lambda v: f"{v:.2f} ms")],
        rows=rows, few_answers=any(r["few"] for r in rows), comparisons=_comparisons(summary),
        fixed_costs=fixed_cost_lines(summary), proxy_costs=proxy_lines(summary),
        settings=_settings(summary))
