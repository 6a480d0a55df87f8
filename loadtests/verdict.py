"""What a run is judged against and how: the targets file, and each target's verdict.

``targets.yaml`` is the one targets file: the gate, the alert rules and the dashboard
thresholds read it. ``evaluate`` judges a summary (``loadtests.summary``) at the end of a run
and again in the gate, from the 95 % interval of each figure, so a run too small to tell
either way is ``inconclusive``, not a pass.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from loadtests.thresholds import Threshold, parse_thresholds

__all__ = [
    "HIT_RATE_MIN_LOOKUPS",
    "OPTIONAL_TARGETS",
    "TARGETS",
    "THRESHOLDS_KEY",
    "aborted_checks",
    "evaluate",
    "load_targets",
    "load_thresholds",
    "overall_verdict",
]

# targets.yaml key → (summary field, comparison, label, unit)
TARGETS: Mapping[str, tuple[str, str, str, str]] = {
    "perceived_p95_seconds": ("ttft_p95_s", "<=", "perceived response (TTFT) p95", "s"),
    "cache_hit_rate_min": ("cache_hit_rate", ">=", "cache hit rate", "ratio"),
    "full_response_avg_seconds_max": (
        "full_response_avg_s", "<=", "full response mean (cache misses)", "s"),
    "error_rate_max": ("error_rate", "<=", "error rate", "ratio"),
    "browser_first_paint_p95_seconds": (
        "browser_first_paint_p95_s", "<=", "browser first paint p95", "s"),
}
# Targets only some runs measure: judged when the run's option (a key of ``run``) asked for them.
OPTIONAL_TARGETS: Mapping[str, str] = {"browser_first_paint_p95_seconds": "browsers"}
THRESHOLDS_KEY = "thresholds"  # the targets file's section of extra k6-style thresholds
# Below this many lookups a hit rate under target is not a failure: a cache that has seen so few
# questions is still filling (the reference workload has 40 FAQs, each asked many ways), and its
# interval assumes the steady rate the target is about.
HIT_RATE_MIN_LOOKUPS = 100


def _read_targets_file(path: Path) -> dict[str, Any]:
    raw = yaml.safe_load(Path(path).read_text())
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping of targets")
    return raw


def load_thresholds(path: Path) -> list[Threshold]:
    """The ``thresholds:`` of a targets file (k6 style, ``loadtests.thresholds``); may be none."""
    return parse_thresholds(_read_targets_file(path).get(THRESHOLDS_KEY))


def load_targets(path: Path) -> dict[str, float]:
    """The targets file as numbers; unknown or missing keys are an error, not a silent pass."""
    raw = _read_targets_file(path)
    raw.pop(THRESHOLDS_KEY, None)
    unknown = sorted(set(raw) - set(TARGETS))
    if unknown:
        raise ValueError(f"{path}: unknown targets {', '.join(unknown)}")
    return {key: float(value) for key, value in raw.items()}


def _meets(value: float, op: str, threshold: float) -> bool:
    return value <= threshold if op == "<=" else value >= threshold


def evaluate(summary: Mapping[str, Any], targets: Mapping[str, float]) -> list[dict[str, Any]]:
    """Each target's threshold, measured value, 95 % bounds and result; no data is a failure.

    ``result`` is ``pass`` when the bound on the unfavourable side meets the target, ``fail``
    when the bound on the favourable side misses it, and ``inconclusive`` in between or when the
    samples give no bound (``loadtests.confidence``): a run too small to tell either way.
    """
    results = []
    for key, threshold in targets.items():
        if key in OPTIONAL_TARGETS and not (summary.get("run") or {}).get(OPTIONAL_TARGETS[key]):
            continue
        field, op, label, unit = TARGETS[key]
        measured = summary.get(field)
        interval = (summary.get("intervals") or {}).get(field)
        worst, best = (interval[1], interval[0]) if interval and op == "<=" else (
            (interval[0], interval[1]) if interval else (None, None))
        if measured is None:
            result = "fail"
        elif worst is not None and _meets(worst, op, threshold):
            result = "pass"
        elif best is not None and not _meets(best, op, threshold):
            result = "fail"
        else:
            result = "inconclusive"
        note = None
        if result == "fail" and field == "cache_hit_rate":
            lookups = _hit_rate_lookups(summary)
            if lookups is not None and lookups < HIT_RATE_MIN_LOOKUPS:
                result = "inconclusive"
                note = (f"{lookups} lookups: a cache still filling, judged from "
                        f"{HIT_RATE_MIN_LOOKUPS}; run longer")
        if field == "cache_hit_rate" and summary.get("cache_backend_errors"):
            note = (f"{summary['cache_backend_errors']} lookups failed in the cache backend "
                    "(Redis down or slow): counted as misses")
        results.append({"target": key, "label": label, "metric": field, "op": op,
                        "threshold": threshold, "measured": measured, "unit": unit,
                        "interval": interval, "result": result, "passed": result == "pass",
                        "note": note})
    return results


def _hit_rate_lookups(summary: Mapping[str, Any]) -> int | None:
    """The lookups behind ``cache_hit_rate`` (the service's count when it gave the rate), or
    None when the summary does not say."""
    service = summary.get("cache_lookups_service")
    if service is not None and summary.get("cache_hit_rate_service") is not None:
        return int(service)
    samples = summary.get("cache_lookups_samples")
    return None if samples is None else int(samples)


def aborted_checks(run: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A run a threshold stopped early (``abortOnFail``) failed, whatever its other figures."""
    aborted = run.get("aborted")
    return [{"result": "fail", "passed": False, **aborted}] if aborted else []


def overall_verdict(checks: Sequence[Mapping[str, Any]]) -> str:
    """``fail`` if any check failed, else ``inconclusive`` if any was, else ``pass``."""
    results = {check.get("result", "pass" if check["passed"] else "fail") for check in checks}
    if "fail" in results:
        return "fail"
    return "inconclusive" if "inconclusive" in results else "pass"
