"""Chart models for ``report.html``: axes with readable ticks, scaled points, hover labels.

The report must open anywhere offline (a CI artifact, a laptop on a train), so its charts are
inline SVG drawn by the Jinja macro in ``chart.html``; this module does the arithmetic those
templates should not: "nice" tick steps (1, 2, 2.5 or 5 times a power of ten; whole numbers for
counts), log ticks for the TTFT distribution, pixel positions, and the text each point shows
on hover.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

__all__ = ["Chart", "Series", "histogram_chart", "line_chart", "nice_ticks"]

WIDTH, HEIGHT = 660, 250
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 30, 40
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
COLOURS = ("#3867d6", "#e58e26", "#20bf6b", "#8854d0", "#eb3b5a")


def nice_ticks(low: float, high: float, count: int = 5, integer: bool = False) -> list[float]:
    """Round tick values covering ``low``..``high``: steps of 1, 2, 2.5 or 5 times 10^n."""
    if high <= low:
        high = low + (1 if integer else abs(low) or 1)
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    if integer:
        step = max(1, math.ceil(step))
    first = math.floor(low / step) * step
    ticks, value = [], first
    while value < high + step * 0.999:
        ticks.append(round(value, 10))
        value += step
    return ticks


@dataclass
class Series:
    """One line (or one set of bars): its name, colour and the points drawn."""

    name: str
    colour: str
    points: list[tuple[float, float, str]] = field(default_factory=list)  # px, py, hover text
    segments: list[str] = field(default_factory=list)  # SVG polyline point lists (gaps split)
    bars: list[tuple[float, float, float, float, str]] = field(default_factory=list)
    dash: str = ""  # SVG stroke-dasharray: a second line stays visible where it overlaps


@dataclass
class Chart:
    """Everything the SVG macro draws: frame, ticks, series, target lines, shaded spans."""

    title: str
    x_label: str
    y_label: str = ""
    x_ticks: list[tuple[float, str]] = field(default_factory=list)  # px, text
    y_ticks: list[tuple[float, str]] = field(default_factory=list)  # py, text
    series: list[Series] = field(default_factory=list)
    h_lines: list[tuple[float, str]] = field(default_factory=list)  # py, label (targets)
    v_lines: list[tuple[float, str]] = field(default_factory=list)  # px, label
    spans: list[tuple[float, float, str]] = field(default_factory=list)  # px from, px to, label
    note: str = ""
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    top: int = TOP
    plot_w: int = PLOT_W
    plot_h: int = PLOT_H


def _scale(low: float, high: float, start: float, length: float) -> Callable[[float], float]:
    span = (high - low) or 1.0
    return lambda v: start + (v - low) / span * length


def line_chart(title: str, xs: Sequence[float], lines: Sequence[tuple[str, Sequence[float | None]]],
               x_label: str, fmt: Callable[[float], str], *, target: float | None = None,
               target_label: str = "", integer: bool = False, warmup_until: float | None = None,
               stop_at: float | None = None, y_min: float = 0.0, y_cap: float | None = None,
               note: str = "", log_x: bool = False) -> Chart:
    """Lines (gaps where a value is ``None``), a target line, the warm-up and the stop tail
    (after ``stop_at``: requests finishing once the load stopped) shaded; ``log_x`` puts x on a
    log scale (e.g. streams open, 1 to thousands)."""
    values = [v for _, ys in lines for v in ys if v is not None]
    top = max([*values, target or 0.0, y_min + (1 if integer else 0)]) * 1.1 or 1.0
    if y_cap is not None:  # e.g. a ratio: no axis beyond 100 %
        top = min(top, y_cap)
    y_ticks = nice_ticks(y_min, top, integer=integer)
    x_low, x_high = (min(xs), max(xs)) if xs else (0.0, 1.0)
    if warmup_until is not None:
        x_low = min(x_low, warmup_until)
    if log_x:
        x_ticks = sorted(set(xs))
        log_sx = _scale(math.log10(x_low), math.log10(x_high), LEFT, PLOT_W)

        def sx(v: float) -> float:
            return log_sx(math.log10(v))
    else:
        x_ticks = nice_ticks(x_low, x_high)
        x_ticks = [t for t in x_ticks if x_low - 1e-9 <= t <= x_high + 1e-9] or [x_low, x_high]
        sx = _scale(x_low, x_high, LEFT, PLOT_W)
    sy = _scale(y_ticks[0], y_ticks[-1], TOP + PLOT_H, -PLOT_H)
    chart = Chart(title, x_label, note=note,
                  x_ticks=[(sx(t), f"{t:g}") for t in x_ticks],
                  y_ticks=[(sy(t), fmt(t)) for t in y_ticks])
    for i, (name, ys) in enumerate(lines):
        series = Series(name, COLOURS[i % len(COLOURS)], dash="6 3" if i else "")
        run: list[str] = []
        for x, y in [*zip(xs, ys, strict=True), (None, None)]:
            if y is None or x is None:
                if run:
                    series.segments.append(" ".join(run))
                run = []
                continue
            px, py = sx(x), sy(y)
            run.append(f"{px:.1f},{py:.1f}")
            where = f"{x:g}" if log_x else f"{x:g} s"
            series.points.append((px, py, f"{name} at {where}: {fmt(y)}"))
        chart.series.append(series)
    if target is not None:
        chart.h_lines.append((sy(target), target_label or f"target {fmt(target)}"))
    if warmup_until is not None and xs and x_low < warmup_until:
        chart.spans.append((sx(x_low), sx(warmup_until), "warm-up (not counted)"))
    if stop_at is not None and xs and stop_at < x_high:
        chart.spans.append((sx(stop_at), sx(x_high), "stop tail"))
    return chart


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:g} ms" if seconds < 1 else f"{seconds:g} s"


def histogram_chart(title: str, edges: Sequence[float],
                    groups: Sequence[tuple[str, Sequence[int]]], x_label: str, *,
                    target: float | None = None, target_label: str = "") -> Chart:
    """Counts per log-spaced bin, one bar colour per group side by side, ticks at powers of 10."""
    low, high = math.log10(edges[0]), math.log10(edges[-1])
    sx = _scale(low, high, LEFT, PLOT_W)
    top = max([1, *(c for _, counts in groups for c in counts)])
    y_ticks = nice_ticks(0, top * 1.1, integer=True)
    sy = _scale(0, y_ticks[-1], TOP + PLOT_H, -PLOT_H)
    decades = [10.0 ** e for e in range(math.floor(low), math.ceil(high) + 1)]
    x_ticks = [(sx(math.log10(d)), _duration(d)) for d in decades
               for d in [d, d * 2, d * 5] if low <= math.log10(d) <= high]
    chart = Chart(title, x_label, "requests", x_ticks=x_ticks,
                  y_ticks=[(sy(t), f"{t:g}") for t in y_ticks],
                  note="logarithmic time axis: hits and misses differ by orders of magnitude")
    width = len(groups) or 1
    for g, (name, counts) in enumerate(groups):
        series = Series(name, COLOURS[g % len(COLOURS)])
        for i, count in enumerate(counts):
            if not count:
                continue
            x0, x1 = sx(math.log10(edges[i])), sx(math.log10(edges[i + 1]))
            bar = (x1 - x0) / width
            y = sy(count)
            series.bars.append((x0 + g * bar, y, max(bar - 0.5, 0.8), TOP + PLOT_H - y,
                                f"{name}: {count} between {_duration(edges[i])} and "
                                f"{_duration(edges[i + 1])}"))
        chart.series.append(series)
    if target is not None and edges[0] < target < edges[-1]:
        chart.v_lines.append((sx(math.log10(target)), target_label))
    return chart
