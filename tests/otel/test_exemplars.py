"""The exemplars of the service's histograms: the same ones the SDK's default reservoir kept on
the histograms docs/telemetry.md promises them on (issue 26); that the others keep none is
``test_latency_histograms_carry_trace_exemplars`` in ``test_metrics.py``, over OTLP.

``LastPerBucket`` replaces the SDK's ``AlignedHistogramBucketExemplarReservoir`` (same choice of
exemplar, less work per record): both are offered the same measurements, inside a real sampled
span and outside any, and must report the same exemplars.
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.context import get_current
from opentelemetry.sdk.metrics import AlignedHistogramBucketExemplarReservoir, Exemplar
from opentelemetry.sdk.trace import TracerProvider

from otel import semconv
from otel.exemplars import LastPerBucket

_EDGES = semconv.TTFT_BUCKETS_S
_POINT = {semconv.LABEL_CACHE_HIT: "false", semconv.LABEL_ROUTE: "stream"}


def _offers() -> list[tuple[float, dict[str, object] | None]]:
    """Values below, on and between edges, above the last, several to a bucket (the last one
    wins), with attributes the point keeps, drops, or none."""
    return [
        (0.0, {**_POINT, "http.host": "a"}),
        (0.005, _POINT),            # exactly on an edge: that edge's bucket, replacing 0.0
        (0.0051, {**_POINT, "net.host.port": 8000}),
        (0.3, None),
        (0.31, {**_POINT, "http.host": "b"}),
        (0.32, {**_POINT, "http.host": "c"}),  # same bucket: replaces the one before
        (10.0, _POINT),
        (42.0, {"http.host": "d"}),  # above the last edge
    ]


def _offer_all(reservoirs: list, span: trace.Span | None) -> None:
    context = trace.set_span_in_context(span) if span is not None else get_current()
    for at, (value, attributes) in enumerate(_offers()):
        for reservoir in reservoirs:
            reservoir.offer(value, 1_000 + at, attributes, context)


def _shown(exemplars: list[Exemplar]) -> list[tuple]:
    return [(e.value, e.time_unix_nano, e.filtered_attributes, e.span_id, e.trace_id)
            for e in exemplars]


def test_last_per_bucket_keeps_what_the_sdk_reservoir_kept() -> None:
    ours, sdk = LastPerBucket(boundaries=_EDGES), AlignedHistogramBucketExemplarReservoir(_EDGES)
    span = TracerProvider().get_tracer("test").start_span("request")
    _offer_all([ours, sdk], span)
    kept = _shown(ours.collect(_POINT))
    assert kept == _shown(sdk.collect(_POINT))
    assert {trace_id for *_, trace_id in kept} == {span.get_span_context().trace_id}
    assert len(kept) == 6 and kept[3][:3] == (0.32, 1_005, {"http.host": "c"})
    # A collection starts the next period empty, as the SDK's does.
    assert ours.collect(_POINT) == sdk.collect(_POINT) == []


def test_last_per_bucket_outside_a_span_keeps_no_ids() -> None:
    """With ``OTEL_METRICS_EXEMPLAR_FILTER=always_on`` measurements outside a span are offered."""
    ours = LastPerBucket(boundaries=_EDGES)
    _offer_all([ours], None)
    kept = ours.collect(_POINT)
    assert len(kept) == 6
    assert all(e.span_id is None and e.trace_id is None for e in kept)

