"""The TTFT users see, as a Prometheus histogram the load runner serves during a run.

The service's ``chat_time_to_first_token_seconds`` starts when the service has read the request;
users wait longer (connection, request upload, the response's way back). So that dashboards can
put the two side by side while a run goes on, the Locust master (or local runner) observes every
finished request's client-side TTFT into ``chatperf_client_time_to_first_token_seconds`` — same
buckets, same ``route`` and ``cache_hit`` labels as the service's — and serves it on
``/metrics`` at a loopback port that Prometheus scrapes (``--client-metrics-port``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, start_http_server

from otel import semconv

__all__ = ["ROUTES", "ClientMetrics"]

# Sample kind → the service's route label of the same requests.
ROUTES: Mapping[str, str] = {"chat": "stream", "openai": "openai"}


class ClientMetrics:
    """A registry of its own (nothing else of the process leaks in) with the client TTFT."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.ttft = Histogram(
            semconv.PROM_CLIENT_TTFT, "Request sent to first content token, at the load client",
            [semconv.LABEL_ROUTE, semconv.LABEL_CACHE_HIT], buckets=semconv.TTFT_BUCKETS_S,
            registry=self.registry)

    def observe(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Every streamed request that got its first token (``samples.jsonl`` records)."""
        for record in records:
            route = ROUTES.get(record["kind"])
            if route is None or record["ttft_ms"] is None:
                continue
            hit = "true" if record["cache"] == "hit" else "false"
            self.ttft.labels(route, hit).observe(record["ttft_ms"] / 1000)

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        """Serve ``/metrics`` on ``host:port`` for as long as the process runs."""
        start_http_server(port, addr=host, registry=self.registry)
