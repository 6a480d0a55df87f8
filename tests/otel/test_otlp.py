"""OTLP export configured by the standard ``OTEL_*`` variables reaches a real receiver.

The service runs as it does in production (gunicorn, telemetry built in the worker after fork)
and exports to an OTLP/HTTP receiver started here, which decodes the protobuf it gets. gRPC is
checked in-process against a gRPC receiver.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

import service
from loadtests.processes import ManagedProcess
from otel import semconv
from otel.setup import init_telemetry
from otel.testing import OtlpReceiver, resource_attributes, wait_until
from service.settings import Settings
from tests.support import stream_chat


def test_service_exports_traces_and_metrics_over_otlp_http(
    simulator: ManagedProcess, start_chat_service: Callable[..., ManagedProcess]
) -> None:
    with OtlpReceiver() as receiver:
        chat = start_chat_service(
            simulator.url,
            OTEL_SERVICE_NAME="chatperf-otlp-test",
            OTEL_TRACES_EXPORTER="otlp",
            OTEL_METRICS_EXPORTER="otlp",
            OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            OTEL_BSP_SCHEDULE_DELAY="100",
            OTEL_METRIC_EXPORT_INTERVAL="200",
        )
        response, events = stream_chat(chat.url, {"message": "What is OTLP?", "model": "fast"})
        trace_id = bytes.fromhex(events[-1].json()["trace_id"])
        assert response.headers[semconv.HEADER_TRACE_RESPONSE].split("-")[1] == trace_id.hex()

        def request_spans() -> set[str]:
            names = {s.name for s in receiver.spans() if s.trace_id == trace_id}
            return names if semconv.SPAN_FULL_RESPONSE in names and len(names) >= 6 else set()

        names = wait_until(request_spans, 10)
        ttft_points = wait_until(
            lambda: [p for m in receiver.metric(semconv.METRIC_TTFT)
                     for p in m.histogram.data_points if p.count], 10)

    assert {semconv.SPAN_CACHE_LOOKUP, semconv.SPAN_FIRST_TOKEN, semconv.SPAN_FULL_RESPONSE,
            semconv.SPAN_CACHE_STORE, semconv.genai_span_name("gpt-4o-mini")} < names
    resource = resource_attributes(receiver.traces[0].resource_spans[0].resource)
    assert resource["service.name"] == "chatperf-otlp-test"
    assert resource["service.version"] == service.__version__
    # Each worker is its own instance: built after fork, so the id carries the worker's pid.
    assert resource["service.instance.id"].rsplit("-", 1)[1] != str(chat.pid)
    # Over OTLP the latency histograms carry exemplars that point at the request's trace.
    assert trace_id in {e.trace_id for p in ttft_points for e in p.exemplars}


class _TraceSink(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self) -> None:
        self.requests: list[trace_service_pb2.ExportTraceServiceRequest] = []

    def Export(self, request: Any, context: Any) -> Any:  # the generated service names it
        self.requests.append(request)
        return trace_service_pb2.ExportTraceServiceResponse()


@pytest.fixture
def grpc_receiver() -> Iterator[tuple[str, _TraceSink]]:
    sink = _TraceSink()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(sink, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"http://127.0.0.1:{port}", sink
    server.stop(None)


def test_grpc_exporter(
    grpc_receiver: tuple[str, _TraceSink], monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint, sink = grpc_receiver
    # The SDK's exporters read the endpoint from the environment, as in production.
    monkeypatch.setitem(os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    settings = Settings.from_env(
        {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
         "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
    )
    telemetry = init_telemetry(settings)
    with telemetry.tracer.start_as_current_span(semconv.SPAN_CACHE_LOOKUP):
        pass
    assert telemetry.tracer_provider is not None
    telemetry.tracer_provider.force_flush()
    telemetry.shutdown()
    spans = [span.name for r in sink.requests for rs in r.resource_spans
             for ss in rs.scope_spans for span in ss.spans]
    assert spans == [semconv.SPAN_CACHE_LOOKUP]
