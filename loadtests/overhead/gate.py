"""The CI gate: CPU per answer, as a ratio to the upstream's in the same run, against a baseline.

Absolute CPU milliseconds differ between machines and between a quiet and a busy CI runner; the
ratio of the service's CPU to the simulator's, both read over the same round of the same run,
cancels most of that (``summary.cpu_ratio``: per round, then the median of the rounds). The gate
fails when the ratio rises more than ``tolerance`` (25 %) over the committed baseline, which
``--write-baseline`` records from a run of the same shape.

The fixed cost of a request is gated too: a cache hit's CPU (one write of a stored answer: all
per-request work, next to no per-token work) over the simulator's CPU per answer of the same
run (``summary.hit_cpu_ratio``) may rise at most ``hit_tolerance`` (35 %). A hit costs 1-2
milliseconds, so a change that adds one to every request raises it by half or more and fails,
while the hit rounds, each read against the miss round just before it, moved by about 10 %
between runs on a shared 2-CPU box.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import THROUGH

__all__ = [
    "BASELINE_PATH",
    "DEFAULT_HIT_TOLERANCE",
    "DEFAULT_TOLERANCE",
    "GATE_SIDE",
    "GateResult",
    "baseline_from",
    "check",
    "read_baseline",
    "write_baseline",
]

BASELINE_PATH = Path(__file__).with_name("baseline.json")
DEFAULT_TOLERANCE = 0.25
DEFAULT_HIT_TOLERANCE = 0.35
GATE_SIDE = THROUGH


@dataclass(frozen=True)
class GateResult:
    """The verdict, and the figures it was made from."""

    passed: bool
    message: str
    ratio: float | None
    baseline_ratio: float | None
    limit: float | None
    hit_ratio: float | None = None
    hit_limit: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": "pass" if self.passed else "fail", "message": self.message,
                "cpu_ratio": self.ratio, "baseline_cpu_ratio": self.baseline_ratio,
                "limit": self.limit, "hit_cpu_ratio": self.hit_ratio,
                "hit_limit": self.hit_limit}


def _gate_point(summary: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((p for p in summary["points"] if p["name"] == name), None)


def baseline_from(summary: dict[str, Any]) -> dict[str, Any]:
    """The baseline record of a finished run: its first point's ratio and how it was measured."""
    point = summary["points"][0]
    side = point["sides"][GATE_SIDE]
    if side["errors"] or side["cpu_ratio"] is None:
        raise ValueError(f"point {point['name']} had errors or no CPU reading; not a baseline")
    config = summary["config"]
    hit = point["hits"].get(GATE_SIDE)
    if hit is not None and (hit["errors"] or hit.get("cpu_ratio") is None):
        raise ValueError(f"the hits at {point['name']} had errors or no CPU reading")
    hit_figures = {} if hit is None else {
        "hit_cpu_ratio": hit["cpu_ratio"],
        "hit_cpu_ms_per_answer": hit["cpu_ms_per_answer"]["server"],
    }
    return {
        "point": point["name"],
        "side": GATE_SIDE,
        "cpu_ratio": side["cpu_ratio"],
        "service_cpu_ms_per_answer": side["cpu_ms_per_answer"]["server"],
        "upstream_cpu_ms_per_answer": side["cpu_ms_per_answer"]["upstream"],  # the yardstick
        "answers": side["answers"],
        **hit_figures,
        "duration_s": config["duration_s"],
        "rounds": config["rounds"],
        "workers": config["workers"],
        "commit": summary.get("commit"),
        "measured": summary["started"],
        "machine": {k: summary["machine"][k] for k in ("cpus", "cpu_model")},
    }


def write_baseline(summary: dict[str, Any], path: Path = BASELINE_PATH) -> dict[str, Any]:
    record = baseline_from(summary)
    path.write_text(json.dumps(record, indent=2) + "\n")
    return record


def read_baseline(path: Path = BASELINE_PATH) -> dict[str, Any]:
    """The committed baseline; ``FileNotFoundError``/``ValueError`` when missing or malformed."""
    record = json.loads(path.read_text())
    if not isinstance(record, dict) or not isinstance(record.get("cpu_ratio"), int | float):
        raise ValueError(f"{path}: no cpu_ratio in the baseline")
    return record


def check(summary: dict[str, Any], baseline: dict[str, Any],
          tolerance: float = DEFAULT_TOLERANCE,
          hit_tolerance: float = DEFAULT_HIT_TOLERANCE) -> GateResult:
    """Pass when the run's CPU ratio is at most baseline x (1 + tolerance), and its hits' ratio
    at most the baseline's x (1 + hit_tolerance) when the baseline has one, nothing failing."""
    result = _check_misses(summary, baseline, tolerance)
    if not result.passed or "hit_cpu_ratio" not in baseline:
        return result
    base = float(baseline["hit_cpu_ratio"])
    limit = round(base * (1 + hit_tolerance), 4)
    point = _gate_point(summary, str(baseline["point"]))
    hit = point["hits"].get(baseline.get("side", GATE_SIDE)) if point else None
    if hit is None or hit["errors"] or hit.get("cpu_ratio") is None:
        why = "were not measured" if hit is None else (
            f"had {hit['errors']} errors" if hit["errors"] else "had no CPU reading")
        return GateResult(False, f"the cache hits {why}; the fixed cost is not comparable",
                          result.ratio, result.baseline_ratio, result.limit, None, limit)
    ratio = hit["cpu_ratio"]
    detail = (f"cache hit CPU {hit['cpu_ms_per_answer']['server']:.2f} ms, {ratio:.3f}x the "
              f"upstream's per answer; baseline {base:.3f}x, limit {limit:.3f}x "
              f"(+{hit_tolerance:.0%})")
    passed = ratio <= limit
    verdict = (f"{result.message}; fixed cost {ratio / base - 1:+.0%}: {detail}" if passed
               else f"the fixed cost of a request rose {ratio / base - 1:+.0%}: {detail}")
    return GateResult(passed, verdict, result.ratio, result.baseline_ratio, result.limit, ratio,
                      limit)


def _check_misses(summary: dict[str, Any], baseline: dict[str, Any],
                  tolerance: float) -> GateResult:
    base = float(baseline["cpu_ratio"])
    limit = round(base * (1 + tolerance), 3)
    point = _gate_point(summary, str(baseline["point"]))
    side = point["sides"].get(baseline.get("side", GATE_SIDE)) if point else None
    if side is None:
        return GateResult(False, f"the run has no point {baseline['point']!r} to compare with "
                                 f"the baseline", None, base, limit)
    if side["errors"]:
        return GateResult(False, f"{side['errors']} errors at {point['name']} streams "
                                 f"({side['error_kinds']}); CPU per answer is not comparable",
                          side["cpu_ratio"], base, limit)
    ratio = side["cpu_ratio"]
    if ratio is None:
        return GateResult(False, "no CPU per answer was measured", None, base, limit)
    service_ms = side["cpu_ms_per_answer"]["server"]
    detail = (f"service CPU per answer {service_ms:.2f} ms, {ratio:.2f}x the upstream's at "
              f"{point['name']} streams; baseline {base:.2f}x, limit {limit:.2f}x "
              f"(+{tolerance:.0%})")
    if ratio > limit:
        return GateResult(False, f"CPU per answer rose {ratio / base - 1:+.0%}: {detail}",
                          ratio, base, limit)
    return GateResult(True, f"CPU per answer {ratio / base - 1:+.0%} against the baseline: "
                            f"{detail}", ratio, base, limit)
