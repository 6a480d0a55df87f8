"""k6-style thresholds: a pass/fail condition on any figure of ``summary.json``.

The four targets of ``targets.yaml`` describe the product; a CI owner often wants more — a
tighter tail (``ttft_p99_s: "<1.5"``), a stricter error budget (``error_rate: "<0.005"``), a
floor on goodput. Thresholds are written as in k6, a comparison per figure (or a list of them),
under ``thresholds:`` in ``targets.yaml`` or with ``--threshold 'ttft_p99_s<1.5'`` on ``run`` and
``gate``. A threshold naming a figure that ``summary.json`` does not have is an error that lists
the figures it has, never a silent pass; a figure without data fails its threshold.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Threshold", "ThresholdError", "check_names", "evaluate_thresholds", "figure_names",
           "parse_cli", "parse_thresholds"]

_OPS: Mapping[str, Callable[[float, float], bool]] = {
    "<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt, "==": operator.eq}
_CONDITION = re.compile(r"^\s*(<=|>=|==|<|>)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")
_CLI = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*((?:<=|>=|==|<|>).*)$")


class ThresholdError(ValueError):
    """Raised for a threshold that cannot be judged: bad syntax or a figure that does not exist."""


@dataclass(frozen=True)
class Threshold:
    """``figure op value``, e.g. ``ttft_p99_s < 1.5``."""

    figure: str
    op: str
    value: float

    @property
    def text(self) -> str:
        return f"{self.figure} {self.op} {self.value:g}"


def _condition(figure: str, text: object) -> Threshold:
    match = _CONDITION.match(str(text))
    if not match:
        raise ThresholdError(f"threshold {figure}: {text!r} is not a comparison such as '<1.5' "
                             f"(operators {', '.join(_OPS)})")
    return Threshold(figure, match.group(1), float(match.group(2)))


def parse_thresholds(raw: Mapping[str, Any] | None) -> list[Threshold]:
    """The ``thresholds:`` mapping of ``targets.yaml``: figure → condition or list of them."""
    if raw is None:
        return []
    if not isinstance(raw, Mapping):
        raise ThresholdError("thresholds: expected a mapping of figure: condition")
    parsed = []
    for figure, conditions in raw.items():
        for condition in conditions if isinstance(conditions, list) else [conditions]:
            parsed.append(_condition(str(figure), condition))
    return parsed


def parse_cli(texts: Iterable[str]) -> list[Threshold]:
    """``--threshold`` values such as ``ttft_p99_s<1.5`` or ``error_rate <= 0.005``."""
    parsed = []
    for text in texts:
        match = _CLI.match(text)
        if not match:
            raise ThresholdError(f"--threshold {text!r}: expected FIGURE<VALUE, e.g. "
                                 "ttft_p99_s<1.5")
        parsed.append(_condition(match.group(1), match.group(2)))
    return parsed


def _is_figure(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def figure_names(summary: Mapping[str, Any]) -> list[str]:
    """The single figures of a summary a threshold can name (numbers, or ``None`` = no data)."""
    return sorted(key for key, value in summary.items() if _is_figure(value))


def check_names(thresholds: Sequence[Threshold], names: Iterable[str]) -> None:
    """Raise ``ThresholdError`` naming the figures that exist when a threshold names another."""
    known = set(names)
    unknown = sorted({t.figure for t in thresholds} - known)
    if unknown:
        raise ThresholdError(f"unknown figure(s) in thresholds: {', '.join(unknown)}; "
                             f"summary.json has: {', '.join(sorted(known))}")


def evaluate_thresholds(summary: Mapping[str, Any],
                        thresholds: Sequence[Threshold]) -> list[dict[str, Any]]:
    """Each threshold against the summary: ``passed`` False when missed or without data."""
    check_names(thresholds, figure_names(summary))
    results = []
    for t in thresholds:
        measured = summary[t.figure]
        passed = measured is not None and _OPS[t.op](measured, t.value)
        results.append({"threshold": t.text, "metric": t.figure, "op": t.op, "value": t.value,
                        "measured": measured, "passed": passed,
                        "result": "pass" if passed else "fail"})
    return results
