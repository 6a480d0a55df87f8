"""Helpers to look at the service's telemetry from outside: shared by the tests and ``otel`` CLI.

``serve_wsgi`` runs an in-process app on a free loopback port behind a real, threaded HTTP
server (the streaming behaviour under test only exists with a real server writing the body).
``recording_telemetry`` builds the service's telemetry with in-memory span and metric readers.
``OtlpReceiver`` is a minimal OTLP/HTTP endpoint that decodes what exporters send.
"""

from __future__ import annotations

import contextlib
import gzip
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from werkzeug.serving import make_server

from otel.setup import Telemetry, TelemetrySettings, init_telemetry

__all__ = [
    "OtlpReceiver",
    "Recording",
    "recording_telemetry",
    "resource_attributes",
    "serve_wsgi",
    "wait_until",
]

_LOOPBACK = "127.0.0.1"


@contextlib.contextmanager
def serve_wsgi(app: Any) -> Iterator[str]:
    """Serve ``app`` on a free loopback port (one thread per request); yields its base URL."""
    server = make_server(_LOOPBACK, 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="wsgi-server", daemon=True)
    thread.start()
    try:
        yield f"http://{_LOOPBACK}:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()


@dataclass
class Recording:
    """Telemetry whose spans and metrics stay in memory for assertions."""

    telemetry: Telemetry
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader


def recording_telemetry(settings: TelemetrySettings) -> Recording:
    """``init_telemetry(settings)`` plus an in-memory span exporter and metric reader."""
    spans = InMemorySpanExporter()
    metrics = InMemoryMetricReader()
    telemetry = init_telemetry(
        settings, span_processors=[SimpleSpanProcessor(spans)], metric_readers=[metrics]
    )
    return Recording(telemetry, spans, metrics)


def wait_until(predicate: Callable[[], Any], timeout_seconds: float = 5.0) -> Any:
    """Poll ``predicate`` until it returns something truthy; return it (or the last falsy)."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        result = predicate()
        if result or time.monotonic() >= deadline:
            return result
        time.sleep(0.02)


def resource_attributes(resource: Any) -> dict[str, Any]:
    """An OTLP ``Resource`` message's attributes as a plain dict of strings/ints."""
    return {kv.key: _any_value(kv.value) for kv in resource.attributes}


def _any_value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_any_value(item) for item in value.array_value.values]
    return getattr(value, kind) if kind else None


@dataclass
class OtlpReceiver:
    """An OTLP/HTTP (protobuf) receiver on a free loopback port, keeping every export request."""

    traces: list[ExportTraceServiceRequest] = field(default_factory=list)
    metrics: list[ExportMetricsServiceRequest] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def endpoint(self) -> str:
        assert self._server is not None, "receiver not started"
        return f"http://{_LOOPBACK}:{self._server.server_address[1]}"

    def spans(self) -> list[Span]:
        with self._lock:
            return [span for request in self.traces for resource_spans in request.resource_spans
                    for scope_spans in resource_spans.scope_spans for span in scope_spans.spans]

    def metric(self, name: str) -> list[Metric]:
        with self._lock:
            return [metric for request in self.metrics for resource_metrics in
                    request.resource_metrics for scope_metrics in resource_metrics.scope_metrics
                    for metric in scope_metrics.metrics if metric.name == name]

    def _accept(self, path: str, body: bytes) -> bytes | None:
        if path == "/v1/traces":
            trace_request = ExportTraceServiceRequest.FromString(body)
            with self._lock:
                self.traces.append(trace_request)
            return ExportTraceServiceResponse().SerializeToString()
        if path == "/v1/metrics":
            metrics_request = ExportMetricsServiceRequest.FromString(body)
            with self._lock:
                self.metrics.append(metrics_request)
            return ExportMetricsServiceResponse().SerializeToString()
        return None

    def __enter__(self) -> OtlpReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                answer = receiver._accept(self.path, body)
                self.send_response(200 if answer is not None else 404)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer or b"")))
                self.end_headers()
                self.wfile.write(answer or b"")

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: exporters post every few hundred milliseconds."""

        self._server = ThreadingHTTPServer((_LOOPBACK, 0), Handler)
        threading.Thread(target=self._server.serve_forever, name="otlp-receiver",
                         daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
