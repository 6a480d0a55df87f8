"""Live figures for ``/api/openai/stats`` and ``/api/cache/stats``, read from the metrics.

There is one set of counters — the OpenTelemetry instruments — merged over every worker (see
``otel.aggregation``); the stats routes summarise them instead of keeping a second tally that
could drift. Means are exact (``sum / count``); percentiles are interpolated within histogram
buckets, as Prometheus' ``histogram_quantile`` does, so they are as fine as the bucket edges.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from prometheus_client.metrics_core import Metric

from otel import semconv

__all__ = ["HistogramFigures", "MetricView", "cache_stats", "openai_stats"]


@dataclass(frozen=True)
class HistogramFigures:
    """Count, sum and cumulative buckets of one histogram (after label filtering)."""

    count: float
    total: float
    buckets: tuple[tuple[float, float], ...]  # (upper bound, cumulative count), +Inf last

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count else None

    def quantile(self, q: float) -> float | None:
        """Interpolated within the bucket the rank falls in, as ``histogram_quantile`` does, then
        kept within what count and sum allow: no value can exceed the sum minus the least the
        others can be (their buckets' lower bounds), nor be below the sum minus the most they
        can be. With one sample that is the sample itself, not a point inside its bucket."""
        if not self.count:
            return None
        rank = q * self.count
        estimate = None
        lower_bound, lower_count = 0.0, 0.0
        for bound, cumulative in self.buckets:
            if cumulative >= rank:
                span = cumulative - lower_count
                fraction = (rank - lower_count) / span if span else 1.0
                estimate = lower_bound if math.isinf(bound) else (
                    lower_bound + (bound - lower_bound) * fraction)
                break
            lower_bound, lower_count = bound, cumulative
        if estimate is None:
            estimate = lower_bound
        low, high = self._value_range()
        return min(max(estimate, low), high)

    def _value_range(self) -> tuple[float, float]:
        """The least the smallest value and the most the largest value can be, given the sum."""
        least = most = 0.0  # the others' smallest and largest possible totals
        lower, previous, top_lower, bottom_upper = 0.0, 0.0, 0.0, math.inf
        for bound, cumulative in self.buckets:
            count = cumulative - previous
            if count:
                least += count * lower
                most += count * bound
                top_lower = lower
                bottom_upper = min(bottom_upper, bound)
            lower, previous = bound, cumulative
        high = self.total - (least - top_lower)
        low = self.total - (most - bottom_upper) if math.isfinite(most) else -math.inf
        return low, high

    def summary(self, digits: int = 4) -> dict[str, float | int | None]:
        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, digits)

        return {
            "count": int(self.count), "mean": rounded(self.mean),
            "p50": rounded(self.quantile(0.5)), "p95": rounded(self.quantile(0.95)),
        }


class MetricView:
    """Sums over merged Prometheus samples, filtered by labels."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._samples: dict[str, list[tuple[Mapping[str, str], float]]] = defaultdict(list)
        for family in families:
            for sample in family.samples:
                self._samples[sample.name].append((sample.labels, sample.value))

    def _matching(
        self, name: str, filters: Mapping[str, str]
    ) -> Iterable[tuple[Mapping[str, str], float]]:
        for labels, value in self._samples.get(name, ()):
            if all(labels.get(key) == wanted for key, wanted in filters.items()):
                yield labels, value

    def total(self, name: str, **filters: str) -> float:
        return sum(value for _, value in self._matching(name, filters))

    def by_label(self, name: str, label: str, **filters: str) -> dict[str, float]:
        result: dict[str, float] = defaultdict(float)
        for labels, value in self._matching(name, filters):
            result[labels.get(label, "")] += value
        return dict(result)

    def histogram(self, name: str, **filters: str) -> HistogramFigures:
        buckets: dict[float, float] = defaultdict(float)
        for labels, value in self._matching(f"{name}_bucket", filters):
            buckets[float(labels["le"])] += value
        return HistogramFigures(
            count=self.total(f"{name}_count", **filters),
            total=self.total(f"{name}_sum", **filters),
            buckets=tuple(sorted(buckets.items())),
        )

    def label_values(self, name: str, label: str) -> set[str]:
        return {labels[label] for labels, _ in self._samples.get(name, ()) if label in labels}


def _rate(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def openai_stats(view: MetricView, models: Mapping[str, str], upstream: str) -> dict[str, object]:
    """Requests, errors, latency per model tier, tokens and routing split."""
    requests = view.by_label(semconv.PROM_REQUESTS, semconv.LABEL_OUTCOME)
    answered = {k: v for k, v in requests.items() if k in ("ok", "error", "cancelled")}
    per_model = {}
    for tier, model in models.items():
        upstream_filter = {semconv.LABEL_MODEL_TIER: tier, semconv.LABEL_CACHE_HIT: "false"}
        per_model[model] = {
            "tier": tier,
            "ttft_s": view.histogram(semconv.PROM_TTFT, **upstream_filter).summary(),
            "full_response_s": view.histogram(
                semconv.PROM_RESPONSE_DURATION, **upstream_filter).summary(),
            "upstream_ttft_s": view.histogram(
                semconv.PROM_UPSTREAM_TTFT,
                **{semconv.LABEL_MODEL_TIER: tier, semconv.LABEL_ORIGIN: "request"}).summary(),
        }
    tokens = view.by_label(f"{semconv.PROM_GENAI_TOKEN_USAGE}_sum", "gen_ai_token_type")
    decisions = view.by_label(semconv.PROM_ROUTER_DECISIONS, semconv.LABEL_MODEL_TIER)
    reasons = view.by_label(semconv.PROM_ROUTER_DECISIONS, semconv.LABEL_REASON)
    total_answered = sum(answered.values())
    return {
        "upstream": upstream,
        "requests": int(total_answered),
        "requests_by_outcome": {k: int(v) for k, v in answered.items()},
        "requests_by_route": {
            k: int(v) for k, v in view.by_label(semconv.PROM_REQUESTS, semconv.LABEL_ROUTE).items()
        },
        "errors": int(answered.get("error", 0)),
        "error_rate": _rate(answered.get("error", 0), total_answered),
        "upstream_errors": {
            k: int(v) for k, v in
            view.by_label(semconv.PROM_UPSTREAM_ERRORS, semconv.LABEL_ERROR_TYPE).items()
        },
        "ttft_s": view.histogram(semconv.PROM_TTFT).summary(),
        # What the service adds to a miss's TTFT over its own upstream call (never negative).
        "ttft_overhead_s": view.histogram(semconv.PROM_TTFT_OVERHEAD).summary(),
        "full_response_s": view.histogram(
            semconv.PROM_RESPONSE_DURATION, **{semconv.LABEL_CACHE_HIT: "false"}).summary(),
        "models": per_model,
        "tokens": {"input": int(tokens.get("input", 0)), "output": int(tokens.get("output", 0))},
        "routing": {
            "by_tier": {k: int(v) for k, v in decisions.items()},
            "by_reason": {k: int(v) for k, v in reasons.items()},
        },
    }


def cache_stats(view: MetricView, backend: Mapping[str, object]) -> dict[str, object]:
    """Lookups, hits, hit rate, hits by tier, hit latency, pre-warm, variants, and the backend's
    own view."""
    results = view.by_label(semconv.PROM_CACHE_LOOKUPS, semconv.LABEL_RESULT)
    hits, misses = results.get("hit", 0.0), results.get("miss", 0.0)
    # A lookup Redis could not answer is a lookup that missed: outages lower the hit rate.
    lookups = sum(results.values())
    by_tier = view.by_label(semconv.PROM_CACHE_LOOKUPS, semconv.LABEL_TIER,
                            **{semconv.LABEL_RESULT: "hit"})
    prewarm = view.by_label(semconv.PROM_CACHE_PREWARM, semconv.LABEL_OUTCOME)
    hit_latency = view.histogram(semconv.PROM_CACHE_LOOKUP_DURATION,
                                 **{semconv.LABEL_RESULT: "hit"})
    return {
        **backend,
        "lookups": int(lookups),
        "hits": int(hits),
        "misses": int(misses),
        "hit_rate": _rate(hits, lookups),
        "hits_by_tier": {k: int(v) for k, v in by_tier.items()},
        "backend_errors": int(results.get("error", 0)),
        "hit_latency_ms": {
            key: (None if value is None else round(value * 1000, 3)) if key != "count" else value
            for key, value in hit_latency.summary(6).items()
        },
        "prewarm": {k: int(v) for k, v in prewarm.items()},
        "variants": _variant_stats(view, backend.get("variants")),
    }


def _variant_stats(view: MetricView, described: object) -> dict[str, object]:
    """A key's further answers: the backend's settings and count of keys holding some, with
    how many were made, served, skipped or wasted, and what they cost upstream (every made or
    wasted one was a call; skipped ones never reached the upstream)."""
    outcomes = view.by_label(semconv.PROM_CACHE_VARIANTS, semconv.LABEL_OUTCOME)
    tokens = view.by_label(semconv.PROM_CACHE_VARIANT_TOKENS, "gen_ai_token_type")
    counts = {name: int(outcomes.get(name, 0)) for name in ("made", "served", "skipped", "wasted")}
    return {
        **(described if isinstance(described, Mapping) else {}),
        **counts,
        "upstream_calls": counts["made"] + counts["wasted"],
        "upstream_tokens": {"input": int(tokens.get("input", 0)),
                            "output": int(tokens.get("output", 0))},
    }
