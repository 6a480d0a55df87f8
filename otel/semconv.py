"""Every span, attribute and metric name chatperf emits (DESIGN §4), in one place.

The service, the tests, the rules generator and the dashboards import these constants, so a
rename is one edit. Names that the OpenTelemetry semantic conventions define are imported from
``opentelemetry.semconv``; names with no standard yet carry a comment saying what they mean.
"""

from __future__ import annotations

from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as _gen_ai
from opentelemetry.semconv._incubating.metrics import gen_ai_metrics as _gen_ai_metrics
from opentelemetry.semconv.attributes import error_attributes as _error
from opentelemetry.semconv.attributes import server_attributes as _server

__all__ = [name for name in dir() if name.isupper()]

# --- spans ------------------------------------------------------------------------------------
# Cache check before the upstream (exact → variation → semantic tiers).
SPAN_CACHE_LOOKUP = "cache.lookup"
# Request start → first content token written to the client (the "perceived response").
SPAN_FIRST_TOKEN = "chat.first_token"
# Request start → `done` (or `error`) written to the client.
SPAN_FULL_RESPONSE = "chat.full_response"
# Writing a finished answer into the cache.
SPAN_CACHE_STORE = "cache.store"
# Predictive pre-warm of one follow-up question; its own trace, linked to the causing request.
SPAN_CACHE_PREWARM = "cache.prewarm"
# Generating another answer (a variant) for a cached question; its own trace, linked likewise.
SPAN_CACHE_VARIANT = "cache.variant"


def genai_span_name(model: str) -> str:
    """GenAI client span name: ``{gen_ai.operation.name} {gen_ai.request.model}``."""
    return f"{GEN_AI_OPERATION_CHAT} {model}"


# --- span attributes: GenAI semantic conventions ------------------------------------------------
GEN_AI_OPERATION_NAME = _gen_ai.GEN_AI_OPERATION_NAME
GEN_AI_OPERATION_CHAT = _gen_ai.GenAiOperationNameValues.CHAT.value
GEN_AI_PROVIDER_NAME = getattr(_gen_ai, "GEN_AI_PROVIDER_NAME", "gen_ai.provider.name")
GEN_AI_REQUEST_MODEL = _gen_ai.GEN_AI_REQUEST_MODEL
GEN_AI_RESPONSE_MODEL = _gen_ai.GEN_AI_RESPONSE_MODEL
GEN_AI_RESPONSE_ID = _gen_ai.GEN_AI_RESPONSE_ID
GEN_AI_RESPONSE_FINISH_REASONS = _gen_ai.GEN_AI_RESPONSE_FINISH_REASONS
GEN_AI_USAGE_INPUT_TOKENS = _gen_ai.GEN_AI_USAGE_INPUT_TOKENS
GEN_AI_USAGE_OUTPUT_TOKENS = _gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS
GEN_AI_TOKEN_TYPE = _gen_ai.GEN_AI_TOKEN_TYPE
SERVER_ADDRESS = _server.SERVER_ADDRESS
SERVER_PORT = _server.SERVER_PORT
ERROR_TYPE = _error.ERROR_TYPE

# --- span attributes: chatperf's own (no standard yet) -----------------------------------------
# The id in the X-Request-ID header and the `meta` event.
ATTR_REQUEST_ID = "chat.request_id"
# Which route served the request: "stream", "quick", "json", "openai".
ATTR_ROUTE = "chat.route"
# "fast" or "smart": the model tier the router chose.
ATTR_MODEL_TIER = "chat.model_tier"
# Why the router chose that tier ("short-simple", "comparison", "code", ...).
ATTR_ROUTING_REASON = "chat.routing.reason"
# Whether the answer came from the cache.
ATTR_CACHE_HIT = "chat.cache.hit"
# Which cache tier matched: "exact", "variation", "semantic" (absent on a miss).
ATTR_CACHE_TIER = "chat.cache.tier"
# Similarity score of the matched entry, 0..1 (1.0 for exact).
ATTR_CACHE_SIMILARITY = "chat.cache.similarity"
# Cache backend answering: "redis" or "memory".
ATTR_CACHE_BACKEND = "chat.cache.backend"
# Number of tokens streamed to the client.
ATTR_OUTPUT_CHUNKS = "chat.output.chunks"
# Time to first token the upstream itself reported (simulator header), seconds.
ATTR_UPSTREAM_REPORTED_TTFT = "chat.upstream.reported_ttft_s"

# --- HTTP headers --------------------------------------------------------------------------------
# W3C Trace Context level 2 response header: ``00-{trace id}-{server span id}-{flags}``.
HEADER_TRACE_RESPONSE = "traceresponse"

# --- metrics (DESIGN §4) -----------------------------------------------------------------------
METRIC_TTFT = "chat.time_to_first_token"  # histogram, s
METRIC_RESPONSE_DURATION = "chat.response.duration"  # histogram, s
METRIC_CACHE_LOOKUPS = "chat.cache.lookups"  # counter
METRIC_CACHE_LOOKUP_DURATION = "chat.cache.lookup.duration"  # histogram, s: hit latency by tier
METRIC_ACTIVE_STREAMS = "chat.active_streams"  # up-down counter
METRIC_UPSTREAM_ERRORS = "chat.upstream.errors"  # counter
METRIC_UPSTREAM_TTFT = "chat.upstream.time_to_first_token"  # histogram, s: upstream's own TTFT
# histogram, s: what the service adds to one request's TTFT: its TTFT minus the upstream TTFT of
# the call it led (misses that started an upstream call only), so it is never negative.
METRIC_TTFT_OVERHEAD = "chat.time_to_first_token.overhead"
METRIC_CACHE_PREWARM = "chat.cache.prewarm"  # counter
# counter: further answers of cached questions by outcome ("made" | "skipped" | "wasted"), and
# "served": hits that served one of them rather than the first answer.
METRIC_CACHE_VARIANTS = "chat.cache.variants"
# counter: upstream tokens those generations cost, by gen_ai.token.type.
METRIC_CACHE_VARIANT_TOKENS = "chat.cache.variant.tokens"
METRIC_REQUESTS = "chat.requests"  # counter: every chat request by route and outcome
METRIC_ROUTER_DECISIONS = "chat.router.decisions"  # counter: model routing split and reason
# histograms, s: measured by the chat page in the user's browser, from the user's send to the
# frame that showed the first answer text, and the last (reported with sendBeacon).
METRIC_CLIENT_FIRST_PAINT = "chat.client.time_to_first_paint"
METRIC_CLIENT_LAST_PAINT = "chat.client.time_to_last_paint"
METRIC_GENAI_OPERATION_DURATION = _gen_ai_metrics.GEN_AI_CLIENT_OPERATION_DURATION
METRIC_GENAI_TOKEN_USAGE = _gen_ai_metrics.GEN_AI_CLIENT_TOKEN_USAGE

# Metric attribute keys (low cardinality only: no question text, no request ids).
LABEL_CACHE_HIT = "cache_hit"  # "true" | "false"
LABEL_MODEL_TIER = "model_tier"  # "fast" | "smart" | "cache"
LABEL_ROUTE = "route"  # "stream" | "quick" | "json" | "openai"
LABEL_RESULT = "result"  # "hit" | "miss" | "error"
LABEL_TIER = "tier"  # "exact" | "variation" | "semantic" | "none"
LABEL_ERROR_TYPE = "error_type"  # upstream error class, e.g. "timeout", "rate_limited"
# prewarm: "made" | "used" | "wasted" | "skipped"; variants: those and "served"; requests: "ok"…
LABEL_OUTCOME = "outcome"
LABEL_REASON = "reason"  # router decision reason
LABEL_ORIGIN = "origin"  # upstream calls: "request" (a client waits) | "prewarm" (background)

# Every value each label may take: no label ever takes a value from a client, so the series
# count is bounded by design (a test sends hostile input and checks /metrics against this).
# None means "one of the configured models, or OTHER_VALUE" (checked against the settings).
LABEL_VALUES: dict[str, frozenset[str] | None] = {
    LABEL_CACHE_HIT: frozenset({"true", "false"}),
    LABEL_MODEL_TIER: frozenset({"fast", "smart", "unknown"}),
    LABEL_ROUTE: frozenset({"stream", "quick", "json", "openai"}),
    LABEL_RESULT: frozenset({"hit", "miss", "error"}),
    LABEL_TIER: frozenset({"exact", "variation", "semantic", "none"}),
    LABEL_ERROR_TYPE: frozenset({
        "upstream_timeout", "upstream_rate_limited", "upstream_unavailable",
        "upstream_interrupted", "upstream_rejected", "upstream_error",
        "cancelled",  # gen_ai.client.operation.duration of a call its client left
    }),
    LABEL_OUTCOME: frozenset({"ok", "error", "cancelled", "hit", "miss",
                              "made", "used", "wasted", "skipped", "served"}),
    LABEL_REASON: frozenset({"requested", "code", "comparison", "analysis", "multi-part",
                             "long", "simple"}),
    LABEL_ORIGIN: frozenset({"request", "prewarm"}),
    "gen_ai_operation_name": frozenset({"chat"}),
    "gen_ai_provider_name": frozenset({"openai"}),
    "gen_ai_token_type": frozenset({"input", "output"}),
    "gen_ai_request_model": None,
    "gen_ai_response_model": None,
}
# The HTTP server metrics (otel/flask_tracing.py) keep only these attributes: the Host
# header, server name and client address would otherwise each become a label.
HTTP_SERVER_METRIC_ATTRIBUTES = frozenset({
    "http.method", "http.status_code", "http.route",
    "http.request.method", "http.response.status_code",
})

# The value a label takes when what was reported is not one of its known values (an unknown
# response model): labels stay a bounded set whatever an upstream or a client sends.
OTHER_VALUE = "_OTHER"

# Bucket edges resolve the targets: 1 s TTFT and 6.21 s mean full response (DESIGN §4).
TTFT_BUCKETS_S = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5,
    0.6, 0.75, 0.9, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0,
)
DURATION_BUCKETS_S = (
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 4.5, 5.0, 5.5, 6.0,
    6.5, 7.0, 8.0, 9.0, 10.0, 12.0, 15.0, 20.0, 30.0, 60.0,
)
OVERHEAD_BUCKETS_S = (
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0,
)
CACHE_LOOKUP_BUCKETS_S = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
)

# --- Prometheus names, as the OTel Prometheus exporter renders the metrics above ---------------
PROM_TTFT = "chat_time_to_first_token_seconds"
PROM_RESPONSE_DURATION = "chat_response_duration_seconds"
PROM_CACHE_LOOKUPS = "chat_cache_lookups_total"
PROM_CACHE_LOOKUP_DURATION = "chat_cache_lookup_duration_seconds"
PROM_ACTIVE_STREAMS = "chat_active_streams"
PROM_UPSTREAM_ERRORS = "chat_upstream_errors_total"
PROM_UPSTREAM_TTFT = "chat_upstream_time_to_first_token_seconds"
PROM_TTFT_OVERHEAD = "chat_time_to_first_token_overhead_seconds"
PROM_CACHE_PREWARM = "chat_cache_prewarm_total"
PROM_CACHE_VARIANTS = "chat_cache_variants_total"
PROM_CACHE_VARIANT_TOKENS = "chat_cache_variant_tokens_total"
PROM_REQUESTS = "chat_requests_total"
PROM_ROUTER_DECISIONS = "chat_router_decisions_total"
PROM_CLIENT_FIRST_PAINT = "chat_client_time_to_first_paint_seconds"
PROM_CLIENT_LAST_PAINT = "chat_client_time_to_last_paint_seconds"
PROM_GENAI_OPERATION_DURATION = "gen_ai_client_operation_duration_seconds"
PROM_GENAI_TOKEN_USAGE = "gen_ai_client_token_usage"
# The load client's own TTFT (what users see), exposed by the load runner during a run
# (loadtests/client_metrics.py) with the service's labels route and cache_hit.
PROM_CLIENT_TTFT = "chatperf_client_time_to_first_token_seconds"

__all__ = [name for name in dir() if name.isupper() or name == "genai_span_name"]
