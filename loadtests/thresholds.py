"""k6-style thresholds: a pass/fail condition on any figure of ``summary.json``.

The four targets of ``targets.yaml`` describe the product; a CI owner often wants more — a
tighter tail (``ttft_p99_s: "<1.5"``), a stricter error budget (``error_rate: "<0.005"``), a
floor on goodput, a bound on one part of the traffic. Thresholds are written as in k6, under
``thresholds:`` in ``targets.yaml`` or with ``--threshold`` on ``run`` and ``gate``:

- a single figure and a comparison: ``ttft_p99_s: "<1.5"`` (or a list of comparisons);
- a row of the percentile tables, by tag, with k6's aggregation: ``"ttft_s{cache:miss}":
  "p(99)<1.5"`` (``p(50)``/``med``, ``p(90)``, ``p(95)``, ``p(99)``, ``avg``; tags
  ``cache:hit|miss`` and ``tier:<name>``; on the command line ``'ttft_s{cache:miss}:p(99)<1.5'``);
- as k6, ``{threshold: "<0.05", abortOnFail: true, delayAbortEval: "10s"}`` stops the run as
  soon as it is crossed (checked every second once ``delayAbortEval`` of measuring has passed),
  and ``--abort-on-fail`` does so for the command line's thresholds.

A threshold naming a figure that ``summary.json`` does not have is an error that lists the
figures it has, never a silent pass; a figure without data fails its threshold.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loadtests.breakdown import FIGURES, group_name

__all__ = ["Threshold", "ThresholdError", "check_names", "evaluate_thresholds", "figure_names",
           "parse_cli", "parse_thresholds"]

_OPS: Mapping[str, Callable[[float, float], bool]] = {
    "<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt, "==": operator.eq}
_STATS = {"p(50)": "p50", "med": "p50", "p(90)": "p90", "p(95)": "p95", "p(99)": "p99",
          "avg": "mean"}
_CONDITION = re.compile(r"^\s*(p\(\d+\)|med|avg)?\s*(<=|>=|==|<|>)\s*"
                        r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")
_FIGURE = re.compile(r"^\s*([A-Za-z_][\w.]*)(?:\{(cache:(?:hit|miss)|tier:[\w-]+)\})?\s*$")
_CLI = re.compile(r"^\s*([A-Za-z_][\w.]*(?:\{[^}]*\})?)\s*:?\s*((?:p\(\d+\)|med|avg)?\s*"
                  r"(?:<=|>=|==|<|>).*)$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$")


class ThresholdError(ValueError):
    """Raised for a threshold that cannot be judged: bad syntax or a figure that does not exist."""


@dataclass(frozen=True)
class Threshold:
    """``figure op value``, e.g. ``ttft_p99_s < 1.5``, or a tagged row's statistic."""

    figure: str
    op: str
    value: float
    tag: str | None = None  # "cache:miss": a row of the percentile tables
    stat: str | None = None  # "p(99)", "avg"…: which statistic of that row
    abort_on_fail: bool = False
    delay_abort_eval_s: float = 0.0

    @property
    def name(self) -> str:
        return self.figure + (f"{{{self.tag}}}" if self.tag else "")

    @property
    def text(self) -> str:
        stat = f" {self.stat}" if self.stat else ""
        return f"{self.name}{stat} {self.op} {self.value:g}"

    def measured(self, summary: Mapping[str, Any]) -> float | None:
        """The figure this threshold judges, or ``None`` when the run has no data for it."""
        if self.stat is None:
            value = summary.get(self.figure)
            return value if _is_figure(value) else None
        groups = ((summary.get("breakdown") or {}).get(self.figure) or {}).get("groups") or {}
        row = groups.get(group_name(self.figure, self.tag)) or {}
        return row.get(_STATS[self.stat])


def _seconds(text: object) -> float:
    match = _DURATION.match(str(text))
    if not match:
        raise ThresholdError(f"delayAbortEval {text!r}: expected e.g. 10s, 500ms or 1m")
    value, unit = float(match.group(1)), match.group(2) or "s"
    return value * {"ms": 0.001, "s": 1.0, "m": 60.0}[unit]


def _parse(name: str, text: object, abort: bool = False, delay_s: float = 0.0) -> Threshold:
    figure = _FIGURE.match(name)
    condition = _CONDITION.match(str(text))
    if not figure:
        raise ThresholdError(f"threshold {name!r}: expected a figure such as ttft_p99_s or "
                             "ttft_s{cache:miss} (tags cache:hit|miss, tier:<name>)")
    if not condition:
        raise ThresholdError(f"threshold {name}: {text!r} is not a comparison such as '<1.5' "
                             f"or 'p(99)<1.5' (operators {', '.join(_OPS)})")
    stat, op, value = condition.groups()
    tag = figure.group(2)
    if stat is not None and stat not in _STATS:
        raise ThresholdError(f"threshold {name}: {stat} is not one of {', '.join(_STATS)}")
    if (tag or stat) and figure.group(1) not in FIGURES:
        raise ThresholdError(f"threshold {name}: a tag or an aggregation needs a figure of the "
                             f"percentile tables: {', '.join(FIGURES)}")
    if figure.group(1) in FIGURES and stat is None:
        raise ThresholdError(f"threshold {name}: say which statistic, e.g. 'p(99){op}{value}'")
    return Threshold(figure.group(1), op, float(value), tag, stat, abort, delay_s)


def parse_thresholds(raw: Mapping[str, Any] | None) -> list[Threshold]:
    """The ``thresholds:`` mapping of ``targets.yaml``: figure → condition(s), each a string or
    k6's ``{threshold, abortOnFail, delayAbortEval}``."""
    if raw is None:
        return []
    if not isinstance(raw, Mapping):
        raise ThresholdError("thresholds: expected a mapping of figure: condition")
    parsed = []
    for figure, conditions in raw.items():
        for condition in conditions if isinstance(conditions, list) else [conditions]:
            if isinstance(condition, Mapping):
                unknown = set(condition) - {"threshold", "abortOnFail", "delayAbortEval"}
                if unknown or "threshold" not in condition:
                    raise ThresholdError(f"threshold {figure}: expected threshold, abortOnFail, "
                                         f"delayAbortEval; got {', '.join(map(str, condition))}")
                parsed.append(_parse(str(figure), condition["threshold"],
                                     bool(condition.get("abortOnFail", False)),
                                     _seconds(condition.get("delayAbortEval", 0))))
            else:
                parsed.append(_parse(str(figure), condition))
    return parsed


def parse_cli(texts: Iterable[str], abort_on_fail: bool = False) -> list[Threshold]:
    """``--threshold`` values such as ``ttft_p99_s<1.5`` or ``ttft_s{cache:miss}:p(99)<1.5``."""
    parsed = []
    for text in texts:
        match = _CLI.match(text)
        if not match:
            raise ThresholdError(f"--threshold {text!r}: expected FIGURE<VALUE, e.g. "
                                 "ttft_p99_s<1.5 or 'ttft_s{cache:miss}:p(99)<1.5'")
        parsed.append(_parse(match.group(1), match.group(2), abort_on_fail))
    return parsed


def _is_figure(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def figure_names(summary: Mapping[str, Any]) -> list[str]:
    """The single figures of a summary a threshold can name (numbers, or ``None`` = no data)."""
    return sorted(key for key, value in summary.items() if _is_figure(value))


def check_names(thresholds: Sequence[Threshold], names: Iterable[str]) -> None:
    """Raise ``ThresholdError`` naming the figures that exist when a threshold names another."""
    known = set(names)
    unknown = sorted({t.figure for t in thresholds if t.stat is None} - known)
    if unknown:
        raise ThresholdError(f"unknown figure(s) in thresholds: {', '.join(unknown)}; "
                             f"summary.json has: {', '.join(sorted(known))}; and by tag: "
                             f"{', '.join(f'{f}{{cache:miss}}' for f in FIGURES)}")


def evaluate_thresholds(summary: Mapping[str, Any],
                        thresholds: Sequence[Threshold]) -> list[dict[str, Any]]:
    """Each threshold against the summary: ``passed`` False when missed or without data."""
    check_names(thresholds, figure_names(summary))
    results = []
    for t in thresholds:
        measured = t.measured(summary)
        passed = measured is not None and _OPS[t.op](measured, t.value)
        results.append({"threshold": t.text, "metric": t.name, "stat": t.stat, "op": t.op,
                        "value": t.value, "measured": measured, "passed": passed,
                        "abort_on_fail": t.abort_on_fail,
                        "result": "pass" if passed else "fail"})
    return results
