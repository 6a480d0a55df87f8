"""Read ``targets.yaml``, the one source of chatperf's performance targets.

The alert rules (``otel.rules``) and the dashboard thresholds (``dashboards``) are generated from
the figures this module returns, so a change to the file changes both, and the staleness tests
catch a committed copy that was not regenerated.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import yaml

__all__ = ["GOODPUT", "LOAD_RUN_ONLY", "TARGETS_PATH", "Targets", "load_targets"]

# The one definition of goodput (as in DistServe and vLLM's benchmarks: requests per second that
# met the latency objective), used by the load summary, the gate, the rules and the dashboards.
# The objective is the TTFT target: a request that failed before its first token is never good.
GOODPUT = ("goodput: requests per second whose first content token arrived within the TTFT "
           "target (targets.yaml perceived_p95_seconds)")

TARGETS_PATH = Path(__file__).resolve().parents[2] / "targets.yaml"


@dataclass(frozen=True)
class Targets:
    """The four figures of ``targets.yaml``; see the comments in that file for their meaning."""

    perceived_p95_seconds: float
    cache_hit_rate_min: float
    full_response_avg_seconds_max: float
    error_rate_max: float

    @property
    def perceived_quantile(self) -> float:
        """The quantile the TTFT target is stated at (the 95 in p95), which is also its SLO:
        this share of requests must see their first token within ``perceived_p95_seconds``."""
        return 0.95

    @property
    def availability_objective(self) -> float:
        """SLO form of the error-rate target: this share of requests must succeed."""
        return 1.0 - self.error_rate_max


# Targets that only the load gate judges (``loadtests.verdict``), with no alert rule: the page's
# timing beacons are sparse (only while people use the page) and unauthenticated, too thin a
# signal to page anyone on. The dashboard draws the perceived target beside them.
LOAD_RUN_ONLY = frozenset({"browser_first_paint_p95_seconds"})


def load_targets(path: Path = TARGETS_PATH) -> Targets:
    """Parse ``path``; every field must be present and numeric, unknown keys are refused."""
    raw = yaml.safe_load(path.read_text())
    if isinstance(raw, dict):
        raw.pop("thresholds", None)  # the load gate's extra k6-style thresholds, not targets
    names = {f.name for f in fields(Targets)}
    if isinstance(raw, dict):
        raw = {key: value for key, value in raw.items() if key not in LOAD_RUN_ONLY}
    if not isinstance(raw, dict) or set(raw) != names:
        raise ValueError(f"{path}: expected exactly the keys {sorted(names)}, got {raw!r}")
    return Targets(**{name: float(raw[name]) for name in names})
