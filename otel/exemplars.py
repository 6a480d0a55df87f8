"""Exemplar reservoirs for the service's histograms: where documented, kept for less; else none.

Every ``record`` made while a sampled span is current is offered to the histogram's exemplar
reservoir. The SDK's default for explicit buckets takes a lock, walks the boundaries one by one to
find the value's bucket, and reads the current span a second time for its ids: 13 % of a
record's instructions under gevent (issue 26, fourth round). Through the SDK's public ``View``
and ``ExemplarReservoir``:

- the histograms docs/telemetry.md promises exemplars on (``chat.time_to_first_token``,
  ``chat.response.duration``, ``http.server.duration``) keep the same exemplars — the last
  sampled measurement of each bucket, with its trace and span ids and the attributes the point
  does not carry — from ``LastPerBucket``, which finds the bucket by bisection and keeps a
  measurement with one store;
- the others recorded per request (a cache lookup's duration, the upstream's TTFT and the
  overhead, the GenAI client metrics, the browser's paint times) keep none (``NoExemplars``).

Names, units, descriptions, attributes, buckets, counts, sums, min and max are the SDK's as
before; a view with no name, description, attribute keys or aggregation changes none of them.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.metrics import Exemplar, ExemplarReservoir, SimpleFixedSizeExemplarReservoir
from opentelemetry.sdk.metrics.view import View
from opentelemetry.trace import SpanContext, get_current_span
from opentelemetry.util.types import Attributes

from otel import semconv

__all__ = [
    "WITHOUT_EXEMPLARS",
    "WITH_EXEMPLARS",
    "LastPerBucket",
    "NoExemplars",
    "histogram_views",
    "last_per_bucket",
]

# The service's own histograms whose exemplars docs/telemetry.md promises ("## Exemplars");
# ``http.server.duration``'s reservoir is set on the ``http.server.*`` view (otel/setup.py).
WITH_EXEMPLARS = (semconv.METRIC_TTFT, semconv.METRIC_RESPONSE_DURATION)
# The others, whose exemplars no one was promised and each request paid for.
WITHOUT_EXEMPLARS = (
    semconv.METRIC_CACHE_LOOKUP_DURATION,
    semconv.METRIC_UPSTREAM_TTFT,
    semconv.METRIC_TTFT_OVERHEAD,
    semconv.METRIC_GENAI_OPERATION_DURATION,
    semconv.METRIC_GENAI_TOKEN_USAGE,
    semconv.METRIC_CLIENT_FIRST_PAINT,
    semconv.METRIC_CLIENT_LAST_PAINT,
)

ReservoirBuilder = Callable[..., ExemplarReservoir]
# One kept measurement: value, time, attributes, and its span (None when none was valid).
_Kept = tuple[float, int, Attributes, SpanContext | None]


class LastPerBucket(ExemplarReservoir):
    """The last measurement offered in each bucket of an explicit-bucket histogram: what the
    SDK's ``AlignedHistogramBucketExemplarReservoir`` keeps and reports, for less.

    An offer is a single store into a list slot (atomic in CPython, no lock); a collection
    swaps in a fresh list first. An offer racing a collection lands whole in one list or the
    other: reported now, next time, or (if it reached the old list after that slot was read)
    not at all — one exemplar of one period lost, never a torn one.
    """

    def __init__(self, boundaries: Sequence[float], **_aggregation_parameters: Any) -> None:
        self._boundaries = tuple(boundaries)
        self._kept: list[_Kept | None] = [None] * (len(self._boundaries) + 1)

    def offer(self, value: float, time_unix_nano: int, attributes: Attributes,
              context: Context) -> None:
        span_context = get_current_span(context).get_span_context()
        # The first bucket whose upper bound is >= value, as the SDK's histogram counts it.
        self._kept[bisect_left(self._boundaries, value)] = (
            value, time_unix_nano, attributes, span_context if span_context.is_valid else None)

    def collect(self, point_attributes: Attributes) -> list[Exemplar]:
        kept, self._kept = self._kept, [None] * (len(self._boundaries) + 1)
        on_point = point_attributes or {}
        exemplars = []
        for entry in kept:
            if entry is None:
                continue
            value, time_unix_nano, attributes, span = entry
            filtered = ({k: v for k, v in attributes.items() if k not in on_point}
                        if attributes else None)
            exemplars.append(Exemplar(
                filtered, value, time_unix_nano,
                span.span_id if span is not None else None,
                span.trace_id if span is not None else None))
        return exemplars


class NoExemplars(ExemplarReservoir):
    """A reservoir that is offered measurements and keeps none."""

    def __init__(self, **_aggregation_parameters: Any) -> None:
        pass

    def offer(self, value: float, time_unix_nano: int, attributes: Attributes,
              context: Context) -> None:
        return None

    def collect(self, point_attributes: Attributes) -> list[Exemplar]:
        return []


def _last_per_bucket_or_default(**aggregation_parameters: Any) -> ExemplarReservoir:
    boundaries = aggregation_parameters.pop("boundaries", None)
    if boundaries is not None:
        return LastPerBucket(boundaries)
    # Not an explicit-bucket histogram (a view's wildcard may match a count too): the SDK's
    # default for every other aggregation.
    return SimpleFixedSizeExemplarReservoir(**aggregation_parameters)


def last_per_bucket(_aggregation_type: type) -> ReservoirBuilder:
    """A view's ``exemplar_reservoir_factory``: ``LastPerBucket`` for explicit-bucket
    histograms, the SDK's default reservoir for anything else the view matches."""
    return _last_per_bucket_or_default


def _no_exemplars(_aggregation_type: type) -> ReservoirBuilder:
    return NoExemplars


def histogram_views() -> list[View]:
    """A view per histogram of ``WITH_EXEMPLARS`` (``LastPerBucket``) and ``WITHOUT_EXEMPLARS``
    (``NoExemplars``); each is the instrument's one stream, as without a view."""
    return [
        *(View(instrument_name=name, exemplar_reservoir_factory=last_per_bucket)
          for name in WITH_EXEMPLARS),
        *(View(instrument_name=name, exemplar_reservoir_factory=_no_exemplars)
          for name in WITHOUT_EXEMPLARS),
    ]
