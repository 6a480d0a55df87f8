"""Small inline SVG charts (bars and lines with a target line), drawn without a plotting library.

``report.html`` must open anywhere — a CI artifact, a laptop without network — so the charts are
plain SVG strings, a few dozen lines, instead of a JavaScript or matplotlib dependency.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

__all__ = ["bar_chart", "line_chart"]

_W, _H = 640, 240
_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 16, 28, 36
_PLOT_W, _PLOT_H = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM


def _frame(title: str, y_max: float, x_max: float, y_fmt: Callable[[float], str],
           x_label: str) -> list[str]:
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_W} {_H}" '
             f'width="{_W}" height="{_H}" font-family="sans-serif" font-size="11">',
             f'<text x="{_LEFT}" y="16" font-size="13" font-weight="bold">{escape(title)}</text>',
             f'<rect x="{_LEFT}" y="{_TOP}" width="{_PLOT_W}" height="{_PLOT_H}" '
             'fill="none" stroke="#bbb"/>']
    for i in range(5):
        value = y_max * i / 4
        y = _TOP + _PLOT_H - _PLOT_H * i / 4
        parts.append(f'<text x="{_LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">'
                     f'{escape(y_fmt(value))}</text>')
        x_value = x_max * i / 4
        x = _LEFT + _PLOT_W * i / 4
        parts.append(f'<text x="{x:.1f}" y="{_H - 18}" text-anchor="middle">{x_value:.3g}</text>')
    parts.append(f'<text x="{_LEFT + _PLOT_W / 2}" y="{_H - 4}" text-anchor="middle">'
                 f'{escape(x_label)}</text>')
    return parts


def _target(parts: list[str], value: float | None, y_max: float, label: str) -> None:
    if value is None or y_max <= 0:
        return
    y = _TOP + _PLOT_H - _PLOT_H * min(value, y_max) / y_max
    parts.append(f'<line x1="{_LEFT}" x2="{_LEFT + _PLOT_W}" y1="{y:.1f}" y2="{y:.1f}" '
                 'stroke="#d33" stroke-dasharray="6 4"/>')
    parts.append(f'<text x="{_LEFT + _PLOT_W - 4}" y="{y - 4:.1f}" text-anchor="end" '
                 f'fill="#d33">{escape(label)}</text>')


def _vertical_target(parts: list[str], value: float, x_max: float, label: str) -> None:
    x = _LEFT + _PLOT_W * min(value, x_max) / x_max
    parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{_TOP}" y2="{_TOP + _PLOT_H}" '
                 'stroke="#d33" stroke-dasharray="6 4"/>')
    parts.append(f'<text x="{x + 4:.1f}" y="{_TOP + 12}" fill="#d33">{escape(label)}</text>')


def bar_chart(title: str, edges: Sequence[float], counts: Sequence[int], x_label: str,
              target: float | None = None, target_label: str = "") -> str:
    """A histogram (``counts[i]`` between ``edges[i]`` and ``edges[i+1]``), target vertical."""
    x_max = edges[-1] if edges else 1.0
    y_max = max([1, *counts])
    parts = _frame(title, y_max, x_max, lambda v: f"{v:.0f}", x_label)
    for i, count in enumerate(counts):
        x = _LEFT + _PLOT_W * edges[i] / x_max
        width = _PLOT_W * (edges[i + 1] - edges[i]) / x_max
        height = _PLOT_H * count / y_max
        parts.append(f'<rect x="{x:.1f}" y="{_TOP + _PLOT_H - height:.1f}" '
                     f'width="{max(width - 1, 1):.1f}" height="{height:.1f}" fill="#4a7bd0"/>')
    if target is not None:
        _vertical_target(parts, target, x_max, target_label)
    return "\n".join([*parts, "</svg>"])


def line_chart(title: str, xs: Sequence[float], ys: Sequence[float | None], x_label: str,
               y_fmt: Callable[[float], str] = lambda v: f"{v:.2g}",
               target: float | None = None, target_label: str = "") -> str:
    """A line over time (gaps where ``ys`` is ``None``), with an optional horizontal target."""
    values = [y for y in ys if y is not None]
    y_max = max([*values, target or 0.0]) * 1.15 or 1.0
    x_max = max(xs) if xs else 1.0
    parts = _frame(title, y_max, x_max, y_fmt, x_label)
    run: list[str] = []
    for x, y in [*zip(xs, ys, strict=True), (0.0, None)]:
        if y is None:
            if run:
                parts.append(f'<polyline fill="none" stroke="#4a7bd0" stroke-width="2" '
                             f'points="{" ".join(run)}"/>')
            run = []
            continue
        px = _LEFT + _PLOT_W * x / x_max
        py = _TOP + _PLOT_H - _PLOT_H * y / y_max
        run.append(f"{px:.1f},{py:.1f}")
        parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="2" fill="#4a7bd0"/>')
    _target(parts, target, y_max, target_label)
    return "\n".join([*parts, "</svg>"])
