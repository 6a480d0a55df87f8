"""Telemetry for one service process: providers, exporters and the instruments.

``init_telemetry(settings)`` builds a tracer provider (OTLP over HTTP or gRPC, console, or no
export, chosen by the standard ``OTEL_*`` variables through ``Settings``) and a meter provider
whose Prometheus reader feeds ``/metrics``. Each app gets its own providers and Prometheus
registry instead of the process-global ones, so tests can build several apps in one process and
gunicorn workers can build theirs after fork.
"""

from __future__ import annotations

import importlib.metadata
import os
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from opentelemetry import trace
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.metrics.view import View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric

from otel import semconv
from otel.aggregation import SnapshotDirectory
from otel.exemplars import histogram_views, last_per_bucket
from otel.instruments import ChatInstruments

__all__ = ["Telemetry", "TelemetrySettings", "init_telemetry"]

_SCOPE = "chatperf"


@dataclass
class Telemetry:
    """One process's telemetry: what the service records through and what it exports."""

    tracer_provider: TracerProvider | None
    meter_provider: MeterProvider
    instruments: ChatInstruments
    registry: CollectorRegistry
    snapshots: SnapshotDirectory | None = None

    @property
    def tracer(self) -> trace.Tracer:
        provider = self.tracer_provider or trace.NoOpTracerProvider()
        return provider.get_tracer(_SCOPE)

    def exposition(self) -> bytes:
        """Prometheus text for ``/metrics``: every worker's figures when a folder is shared."""
        if self.snapshots is not None:
            return self.snapshots.exposition()
        return generate_latest(self.registry)

    def merged_families(self) -> list[Metric]:
        """Every worker's metric families (this process's alone with no shared folder)."""
        if self.snapshots is not None:
            return self.snapshots.merged()
        return list(self.registry.collect())

    def start_background(self) -> None:
        """Begin writing this worker's snapshots (call after fork)."""
        if self.snapshots is not None:
            self.snapshots.start()

    def shutdown(self) -> None:
        if self.snapshots is not None:
            self.snapshots.stop()
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


def _resource(service_name: str) -> Resource:
    return Resource.create(
        {
            "service.name": service_name,
            # The installed distribution's version: otel/ reads no service/ internals.
            "service.version": importlib.metadata.version("chatperf"),
            "service.instance.id": f"{socket.gethostname()}-{os.getpid()}",
        }
    )


class TelemetrySettings(Protocol):
    """What telemetry reads of the service's settings (``service.settings.Settings`` has it);
    a protocol, so otel/ does not import service/."""

    @property
    def otel_service_name(self) -> str: ...
    @property
    def otel_traces_exporter(self) -> str: ...
    @property
    def otel_metrics_exporter(self) -> str: ...
    @property
    def otel_exporter_otlp_protocol(self) -> str: ...
    @property
    def telemetry(self) -> bool: ...
    @property
    def metrics_dir(self) -> str | None: ...


def _otlp_span_exporter(protocol: str) -> SpanExporter:
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc import trace_exporter as grpc_traces

        return grpc_traces.OTLPSpanExporter()
    from opentelemetry.exporter.otlp.proto.http import trace_exporter as http_traces

    return http_traces.OTLPSpanExporter()


def _otlp_metric_exporter(protocol: str) -> MetricExporter:
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc import metric_exporter as grpc_metrics

        return grpc_metrics.OTLPMetricExporter()
    from opentelemetry.exporter.otlp.proto.http import metric_exporter as http_metrics

    return http_metrics.OTLPMetricExporter()


def init_telemetry(
    settings: TelemetrySettings,
    span_processors: Sequence[SpanProcessor] = (),
    metric_readers: Sequence[MetricReader] = (),
) -> Telemetry:
    """Build this process's providers from ``settings``; extra processors/readers for tests."""
    resource = _resource(settings.otel_service_name)
    registry = CollectorRegistry(auto_describe=True)
    readers: list[MetricReader] = [
        PrometheusMetricReader(
            disable_target_info=True, scope_info_enabled=False, registry=registry
        ),
        *metric_readers,
    ]
    if settings.otel_metrics_exporter == "otlp":
        readers.append(
            PeriodicExportingMetricReader(
                _otlp_metric_exporter(settings.otel_exporter_otlp_protocol)
            )
        )
    # No client-controlled value may become a label (semconv.LABEL_VALUES). Exemplars are kept
    # on the histograms whose docs promise them, by a leaner reservoir, and on no others.
    views = [View(instrument_name="http.server.*",
                  attribute_keys=set(semconv.HTTP_SERVER_METRIC_ATTRIBUTES),
                  exemplar_reservoir_factory=last_per_bucket),
             *histogram_views()]
    meter_provider = MeterProvider(resource=resource, metric_readers=readers, views=views)

    tracer_provider: TracerProvider | None = None
    if settings.telemetry:
        tracer_provider = TracerProvider(resource=resource)
        exporter_names = {
            name.strip() for name in settings.otel_traces_exporter.split(",") if name.strip()
        }
        if "otlp" in exporter_names:
            tracer_provider.add_span_processor(
                BatchSpanProcessor(_otlp_span_exporter(settings.otel_exporter_otlp_protocol))
            )
        if "console" in exporter_names:
            # Today's stdout, not the one the SDK module saw at import.
            tracer_provider.add_span_processor(
                BatchSpanProcessor(ConsoleSpanExporter(out=sys.stdout))
            )
        for processor in span_processors:
            tracer_provider.add_span_processor(processor)

    snapshots = (
        SnapshotDirectory(Path(settings.metrics_dir), registry) if settings.metrics_dir else None
    )
    return Telemetry(
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        instruments=ChatInstruments.create(meter_provider.get_meter(_SCOPE)),
        registry=registry,
        snapshots=snapshots,
    )
