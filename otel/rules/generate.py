"""Generate chatperf's Prometheus recording and alerting rules from ``targets.yaml``.

Recording rules give each target figure over several windows; alerts use them:

* TTFT p95 ≤ target and error rate ≤ target are SLOs (share of requests with TTFT ≤ target
  against 95 %; share of successful requests against 1 - error_rate_max) and get the
  multi-window, multi-burn-rate alerts of the Google SRE workbook (chapter "Alerting on SLOs").
* The cache hit rate and the mean full response of misses are not per-request SLIs, so they get
  threshold alerts over a long and a short window: ticket when the target is missed at all,
  page when it is missed badly (``PAGE_HIT_RATE_FACTOR``, ``PAGE_MEAN_FACTOR``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from otel import semconv
from otel.rules import promql
from otel.rules.runbooks import RUNBOOKS
from otel.rules.targets import Targets

__all__ = [
    "BURN_RATE_WINDOWS",
    "PAGE_HIT_RATE_FACTOR",
    "PAGE_MEAN_FACTOR",
    "RULES_PATH",
    "WINDOWS",
    "build_rule_groups",
    "record_name",
    "render_rules",
]

RULES_PATH = Path(__file__).resolve().parent / "chatperf.rules.yml"
WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
DASHBOARD_PATH = "/d/chatperf-overview"


@dataclass(frozen=True)
class BurnRateWindow:
    """One row of the workbook's table: both windows must burn faster than ``factor``."""

    severity: str
    long: str
    short: str
    factor: float
    for_: str


# 2 % of a 30-day budget in 1 h, 5 % in 6 h (page); 10 % in 1 d, 10 % in 3 d (ticket).
BURN_RATE_WINDOWS = (
    BurnRateWindow("page", "1h", "5m", 14.4, "2m"),
    BurnRateWindow("page", "6h", "30m", 6.0, "2m"),
    BurnRateWindow("ticket", "1d", "2h", 3.0, "15m"),
    BurnRateWindow("ticket", "3d", "6h", 1.0, "15m"),
)
# Threshold alerts: (severity, long window, short window, `for`).
THRESHOLD_WINDOWS = (("page", "1h", "5m", "2m"), ("ticket", "6h", "30m", "15m"))
# Page when the hit rate falls below half its target (the cache is effectively gone) ...
PAGE_HIT_RATE_FACTOR = 0.5
# ... or the mean full response of misses exceeds the target by half (the upstream is failing us).
PAGE_MEAN_FACTOR = 1.5

_FIGURES: dict[str, tuple[str, Callable[[Targets, str], str]]] = {
    "ttft_p95": (
        f"job:{semconv.PROM_TTFT}:p95_rate",
        lambda t, w: promql.quantile(t.perceived_quantile, semconv.PROM_TTFT, w),
    ),
    "ttft_slow": (
        f"job:{semconv.PROM_TTFT}_over_target:ratio_rate",
        lambda t, w: promql.slow_ttft_ratio(t.perceived_p95_seconds, w),
    ),
    "goodput": (
        f"job:{semconv.PROM_TTFT}_within_target:rate",
        lambda t, w: promql.goodput_rate(t.perceived_p95_seconds, w),
    ),
    "hit_ratio": (
        f"job:{semconv.PROM_CACHE_LOOKUPS}_hit:ratio_rate", lambda t, w: promql.hit_ratio(w)
    ),
    "miss_mean": (
        f"job:{semconv.PROM_RESPONSE_DURATION}_cache_miss:mean_rate",
        lambda t, w: promql.miss_mean_duration(w),
    ),
    "error_ratio": (
        f"job:{semconv.PROM_REQUESTS}_failed:ratio_rate", lambda t, w: promql.error_ratio(w)
    ),
}


def record_name(figure: str, window: str) -> str:
    """Name of the recording rule holding ``figure`` (a key of the table above) over ``window``."""
    return f"{_FIGURES[figure][0]}{window}"


def _recording_rules(targets: Targets) -> list[dict[str, Any]]:
    return [
        {"record": record_name(figure, window), "expr": build(targets, window)}
        for figure, (_, build) in _FIGURES.items()
        for window in WINDOWS
    ]


def _annotations(key: str, summary: str, description: str) -> dict[str, str]:
    return {
        "summary": summary,
        "description": description,
        "runbook": RUNBOOKS[key],
        "dashboard": DASHBOARD_PATH,
    }


def _burn_rate_alerts(
    alert: str, figure: str, objective: float, key: str, summary: str
) -> list[dict[str, Any]]:
    budget = 1.0 - objective
    rules = []
    for severity in ("page", "ticket"):
        rows = [w for w in BURN_RATE_WINDOWS if w.severity == severity]
        clauses = [
            f"({record_name(figure, w.long)} > ({w.factor} * {budget:.4g})"
            f" and {record_name(figure, w.short)} > ({w.factor} * {budget:.4g}))"
            for w in rows
        ]
        factors = " or ".join(f"{w.factor:g}x over {w.long} and {w.short}" for w in rows)
        rules.append({
            "alert": alert,
            "expr": "\n  or\n".join(clauses),
            "for": rows[0].for_,
            "labels": {"severity": severity, "slo": key},
            "annotations": _annotations(
                key, summary,
                f"The {key} error budget ({budget:.2%} of requests) burns faster than "
                f"{factors}; share of bad requests now {{{{ $value | humanizePercentage }}}}.",
            ),
        })
    return rules


def _threshold_alerts(
    alert: str, figure: str, op: str, target: float, page_factor: float, key: str, summary: str,
    fmt: Callable[[float], str], humanize: str,
) -> list[dict[str, Any]]:
    rules = []
    for severity, long, short, for_ in THRESHOLD_WINDOWS:
        limit = target * page_factor if severity == "page" else target
        rules.append({
            "alert": alert,
            "expr": f"{record_name(figure, long)} {op} {limit:.6g}\n"
                    f"and\n{record_name(figure, short)} {op} {limit:.6g}",
            "for": for_,
            "labels": {"severity": severity, "slo": key},
            "annotations": _annotations(
                key, summary,
                f"Over {long} and {short} the figure is {op} {fmt(limit)} (target {fmt(target)});"
                f" now {{{{ $value | {humanize} }}}}.",
            ),
        })
    return rules


def _alerting_rules(t: Targets) -> list[dict[str, Any]]:
    return [
        *_burn_rate_alerts(
            "ChatperfPerceivedResponseSLOBurn", "ttft_slow", t.perceived_quantile,
            "perceived_p95_seconds",
            f"Too many requests wait more than {t.perceived_p95_seconds:g} s for the first token",
        ),
        *_burn_rate_alerts(
            "ChatperfErrorBudgetBurn", "error_ratio", t.availability_objective, "error_rate_max",
            f"More than {t.error_rate_max:.2%} of chat requests fail",
        ),
        *_threshold_alerts(
            "ChatperfCacheHitRateLow", "hit_ratio", "<", t.cache_hit_rate_min,
            PAGE_HIT_RATE_FACTOR, "cache_hit_rate_min",
            f"Cache hit rate below its {t.cache_hit_rate_min:.0%} target",
            lambda v: f"{v:.0%}", "humanizePercentage",
        ),
        *_threshold_alerts(
            "ChatperfFullResponseSlow", "miss_mean", ">", t.full_response_avg_seconds_max,
            PAGE_MEAN_FACTOR, "full_response_avg_seconds_max",
            f"Mean full response of upstream answers above {t.full_response_avg_seconds_max:g} s",
            lambda v: f"{v:.3g} s", "humanizeDuration",
        ),
    ]


def build_rule_groups(targets: Targets) -> dict[str, Any]:
    """The rule file as a mapping, ready for ``yaml.safe_dump``."""
    return {
        "groups": [
            {"name": "chatperf-targets-recording", "rules": _recording_rules(targets)},
            {"name": "chatperf-targets-alerts", "rules": _alerting_rules(targets)},
        ]
    }


def render_rules(targets: Targets) -> str:
    """The text of ``chatperf.rules.yml`` for ``targets``."""
    header = (
        "# Generated by `python -m otel.rules` from targets.yaml; do not edit by hand.\n"
        "# tests/otel/test_rules.py fails when this file is stale.\n"
    )
    body = yaml.dump(build_rule_groups(targets), Dumper=_Dumper, sort_keys=False, width=100,
                     allow_unicode=True)
    return header + body


class _Dumper(yaml.SafeDumper):
    """Writes multi-line strings (the alert expressions) as literal blocks, as people do."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)
