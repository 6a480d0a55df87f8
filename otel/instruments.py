"""The service's metric instruments, created once with their units and bucket edges fixed.

Every instrument of DESIGN §4 is made here by one factory, so names come from ``otel.semconv``
and histogram edges resolve the targets (1 s TTFT, 6.21 s mean response). Code records through a
``ChatInstruments``; with no meter provider configured the OpenTelemetry API makes them no-ops.
"""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry import metrics
from opentelemetry.metrics import Histogram, Meter

from otel import semconv
from otel.live_count import LiveCount

__all__ = ["ChatInstruments"]

# GenAI semconv advisory edges for gen_ai.client.* (seconds and tokens).
_GENAI_DURATION_BUCKETS = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)
_GENAI_TOKEN_BUCKETS = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)


@dataclass(frozen=True)
class ChatInstruments:
    """All of the service's instruments; see DESIGN §4 for what each measures."""

    ttft: Histogram
    response_duration: Histogram
    cache_lookups: LiveCount
    cache_lookup_duration: Histogram
    active_streams: LiveCount
    upstream_errors: LiveCount
    upstream_ttft: Histogram
    ttft_overhead: Histogram
    cache_prewarm: LiveCount
    cache_variants: LiveCount
    cache_variant_tokens: LiveCount
    requests: LiveCount
    router_decisions: LiveCount
    genai_operation_duration: Histogram
    genai_token_usage: Histogram
    client_first_paint: Histogram
    client_last_paint: Histogram

    @classmethod
    def create(cls, meter: Meter | None = None) -> ChatInstruments:
        """Make every instrument on ``meter`` (default: the global meter provider's)."""
        meter = meter or metrics.get_meter("chatperf")
        return cls(
            ttft=meter.create_histogram(
                semconv.METRIC_TTFT, unit="s",
                description="Request start to the first content token written (perceived response)",
                explicit_bucket_boundaries_advisory=list(semconv.TTFT_BUCKETS_S),
            ),
            response_duration=meter.create_histogram(
                semconv.METRIC_RESPONSE_DURATION, unit="s",
                description="Request start to the end of the answer (done or error written)",
                explicit_bucket_boundaries_advisory=list(semconv.DURATION_BUCKETS_S),
            ),
            cache_lookups=LiveCount(
                meter, semconv.METRIC_CACHE_LOOKUPS, monotonic=True, unit="{lookup}",
                description="Cache lookups by result and matching tier",
            ),
            cache_lookup_duration=meter.create_histogram(
                semconv.METRIC_CACHE_LOOKUP_DURATION, unit="s",
                description="Time one cache lookup took, by result and tier",
                explicit_bucket_boundaries_advisory=list(semconv.CACHE_LOOKUP_BUCKETS_S),
            ),
            active_streams=LiveCount(
                meter, semconv.METRIC_ACTIVE_STREAMS, unit="{stream}",
                description="Answers being streamed right now",
            ),
            upstream_errors=LiveCount(
                meter, semconv.METRIC_UPSTREAM_ERRORS, monotonic=True, unit="{error}",
                description="Failed upstream calls by error type",
            ),
            upstream_ttft=meter.create_histogram(
                semconv.METRIC_UPSTREAM_TTFT, unit="s",
                description="Upstream request sent to its first content token",
                explicit_bucket_boundaries_advisory=list(semconv.TTFT_BUCKETS_S),
            ),
            ttft_overhead=meter.create_histogram(
                semconv.METRIC_TTFT_OVERHEAD, unit="s",
                description="What the service adds to a miss's TTFT beyond its upstream's own",
                explicit_bucket_boundaries_advisory=list(semconv.OVERHEAD_BUCKETS_S),
            ),
            cache_prewarm=LiveCount(
                meter, semconv.METRIC_CACHE_PREWARM, monotonic=True, unit="{prediction}",
                description="Predictive pre-warm of follow-ups by outcome",
            ),
            cache_variants=LiveCount(
                meter, semconv.METRIC_CACHE_VARIANTS, monotonic=True, unit="{answer}",
                description="Further answers of cached questions by outcome, and hits serving one",
            ),
            cache_variant_tokens=LiveCount(
                meter, semconv.METRIC_CACHE_VARIANT_TOKENS, monotonic=True, unit="{token}",
                description="Upstream tokens spent generating further answers of cached questions",
            ),
            requests=LiveCount(
                meter, semconv.METRIC_REQUESTS, monotonic=True, unit="{request}",
                description="Chat requests by route and outcome",
            ),
            router_decisions=LiveCount(
                meter, semconv.METRIC_ROUTER_DECISIONS, monotonic=True, unit="{decision}",
                description="Model routing decisions by tier and reason",
            ),
            genai_operation_duration=meter.create_histogram(
                semconv.METRIC_GENAI_OPERATION_DURATION, unit="s",
                description="GenAI operation duration",
                explicit_bucket_boundaries_advisory=list(_GENAI_DURATION_BUCKETS),
            ),
            genai_token_usage=meter.create_histogram(
                semconv.METRIC_GENAI_TOKEN_USAGE, unit="{token}",
                description="Measures number of input and output tokens used",
                explicit_bucket_boundaries_advisory=list(_GENAI_TOKEN_BUCKETS),
            ),
            client_first_paint=meter.create_histogram(
                semconv.METRIC_CLIENT_FIRST_PAINT, unit="s",
                description="In the browser: the user's send to the first answer text painted",
                explicit_bucket_boundaries_advisory=list(semconv.TTFT_BUCKETS_S),
            ),
            client_last_paint=meter.create_histogram(
                semconv.METRIC_CLIENT_LAST_PAINT, unit="s",
                description="In the browser: the user's send to the whole answer painted",
                explicit_bucket_boundaries_advisory=list(semconv.DURATION_BUCKETS_S),
            ),
        )
