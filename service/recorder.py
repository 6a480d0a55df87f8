"""Per-answer telemetry, written once when an answer ends, from its raw timing marks.

The pipeline only keeps an ``AnswerRecord`` up to date (raw marks in ``StreamTimings``, what
answered, how it ended); ``AnswerRecorder`` derives every figure from it afterwards: the
``chat.first_token`` and ``chat.full_response`` spans (with their real start and end times), the
TTFT, duration and overhead histograms, the request counter and the active-stream gauge. Nothing
here runs per token.
"""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode
from opentelemetry.util.types import AttributeValue

from otel import semconv
from otel.instruments import ChatInstruments
from service.timings import StreamTimings

__all__ = ["AnswerRecord", "AnswerRecorder"]


@dataclass
class AnswerRecord:
    """What one answer turned out to be; filled in by the pipeline as it learns it."""

    route: str
    timings: StreamTimings
    cache_hit: bool = False
    model_tier: str = "unknown"
    outcome: str = "cancelled"  # until proven otherwise: a client that left mid-stream
    error_type: str | None = None  # the failure's code when outcome is "error"
    led_upstream: bool = False  # this request's own upstream call (not a single-flight follower)


class AnswerRecorder:
    """Writes an answer's spans and metrics from its finished ``AnswerRecord``."""

    def __init__(self, instruments: ChatInstruments, tracer: trace.Tracer) -> None:
        self._instruments = instruments
        self._tracer = tracer

    def begin(self, route: str) -> None:
        self._instruments.active_streams.add(1, {semconv.LABEL_ROUTE: route})

    def end(self, record: AnswerRecord) -> None:
        timings = record.timings
        finished = timings.mark("finished")
        instruments = self._instruments
        route = record.route
        instruments.active_streams.add(-1, {semconv.LABEL_ROUTE: route})
        instruments.requests.add(1, {
            semconv.LABEL_ROUTE: route, semconv.LABEL_OUTCOME: record.outcome,
        })
        labels = {
            semconv.LABEL_CACHE_HIT: "true" if record.cache_hit else "false",
            semconv.LABEL_MODEL_TIER: record.model_tier,
            semconv.LABEL_ROUTE: route,
        }
        attributes: dict[str, AttributeValue] = {
            semconv.ATTR_ROUTE: route,
            semconv.ATTR_CACHE_HIT: record.cache_hit,
            semconv.ATTR_MODEL_TIER: record.model_tier,
        }
        first_token = timings.first_token
        if first_token is not None:
            instruments.ttft.record(first_token - timings.started, labels)
            self._tracer.start_span(
                semconv.SPAN_FIRST_TOKEN, start_time=timings.started_epoch_ns,
                attributes=attributes,
            ).end(end_time=timings.epoch_ns(first_token))
            overhead = timings.service_overhead_s if record.led_upstream else None
            if overhead is not None:
                # The request's TTFT is its upstream call's plus the overhead: recorded
                # together, so over any window the two means add up to the requests' TTFT.
                instruments.ttft_overhead.record(overhead, labels)
                instruments.upstream_ttft.record(
                    (timings.upstream_first_token or 0.0) - (timings.upstream_sent or 0.0),
                    {semconv.LABEL_MODEL_TIER: record.model_tier,
                     semconv.LABEL_ORIGIN: "request"})
        if record.outcome == "ok":
            instruments.response_duration.record(finished - timings.started, labels)
        span = self._tracer.start_span(
            semconv.SPAN_FULL_RESPONSE, start_time=timings.started_epoch_ns,
            attributes={**attributes, semconv.ATTR_OUTPUT_CHUNKS: timings.tokens},
        )
        if record.outcome != "ok":
            span.set_status(Status(StatusCode.ERROR, record.outcome))
            span.set_attribute(semconv.ERROR_TYPE, record.error_type or record.outcome)
            if record.error_type is not None:
                # An SSE stream that ends in `error` is still HTTP 200: mark the request's
                # server span so a trace search for failed requests finds it.
                server_span = trace.get_current_span()
                server_span.set_status(Status(StatusCode.ERROR, record.error_type))
                server_span.set_attribute(semconv.ERROR_TYPE, record.error_type)
        span.end(end_time=timings.epoch_ns(finished))
