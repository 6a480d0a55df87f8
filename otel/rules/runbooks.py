"""Runbook text carried in each alert's ``runbook`` annotation, one entry per target.

Kept apart from the generator so the steps read as prose; keys are the ``targets.yaml`` names.
"""

from __future__ import annotations

__all__ = ["RUNBOOKS"]

RUNBOOKS: dict[str, str] = {
    "perceived_p95_seconds": (
        "1. Open the chatperf overview dashboard, row Latency: compare 'Upstream TTFT vs service"
        " overhead'. If upstream TTFT rose, the model provider is slow: check its status page,"
        " consider routing more traffic to the fast model (CHAT_FAST_MODEL) or failing over"
        " (OPENAI_BASE_URL). 2. If the service overhead rose, look at 'Active streams' and CPU:"
        " the gunicorn workers are saturated; scale out or raise --workers. 3. If the hit rate"
        " fell at the same time, misses now dominate TTFT: see the cache runbook. 4. Open the"
        " 'Slow first tokens' trace table and read one slow trace span by span."
    ),
    "error_rate_max": (
        "1. Dashboard row Traffic, 'Errors by route' and 'Upstream errors by type': upstream"
        " timeouts or rate limiting (error_type) point at the provider or its quota; 4xx"
        " outcomes point at a client sending bad requests. 2. Check /readyz of each instance"
        " (Redis reachable?). 3. Read the service logs for the request ids in the failing"
        " traces. 4. If one instance fails alone, take it out of rotation."
    ),
    "cache_hit_rate_min": (
        "1. Dashboard row Cache, 'Hit rate by tier': if every tier dropped at once the cache is"
        " empty or unreachable: check Redis (REDIS_URL, memory, evictions, a restart without"
        " persistence) and /readyz. 2. If only the semantic or variation tier dropped, a"
        " matcher change or a threshold setting lowered matches. 3. If traffic changed"
        " (new questions, a new client), a lower rate may be real: check 'Pre-warm made vs"
        " used' and the TTL (CHAT_CACHE_TTL_SECONDS)."
    ),
    "full_response_avg_seconds_max": (
        "1. Dashboard row Latency, 'Full response percentiles': if the upstream's own latency"
        " grew, answers got longer (tokens/s panel, CHAT_MAX_OUTPUT_TOKENS) or the provider"
        " slowed down. 2. 'Model routing split': more traffic on the smart model makes answers"
        " slower; check the router's reasons. 3. Upstream retries (error types) add whole"
        " attempts to the response time."
    ),
}
