"""``LiveCount`` reads like the synchronous up-down counter it replaced, through the real SDK."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from otel.live_count import OVERFLOW_ATTRIBUTES, LiveCount


def _points(reader: InMemoryMetricReader,
            monotonic: bool = False) -> dict[tuple[tuple[str, Any], ...], float]:
    data = reader.get_metrics_data()
    assert data is not None
    (metric,) = [m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics]
    assert (metric.name, metric.unit, metric.data.is_monotonic) == ("demo.active", "{x}",
                                                                    monotonic)
    return {tuple(sorted(p.attributes.items())): p.value for p in metric.data.data_points}


def _count(**options: Any) -> tuple[LiveCount, InMemoryMetricReader]:
    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("test")
    return LiveCount(meter, "demo.active", "{x}", "things in flight", **options), reader


def test_counts_in_flight_and_reports_idle_sets_at_zero() -> None:
    count, reader = _count()
    count.add(1, {"route": "stream"})
    count.add(1, {"route": "stream"})
    count.add(1, {"route": "openai"})
    assert _points(reader) == {(("route", "openai"),): 1, (("route", "stream"),): 2}
    count.add(-1, {"route": "stream"})
    count.add(-1, {"route": "openai"})
    # A set that went idle is still exported, at 0, as the synchronous counter's was.
    assert _points(reader) == {(("route", "openai"),): 0, (("route", "stream"),): 1}


def test_keys_keep_only_what_the_view_keeps() -> None:
    count, reader = _count(keys={"http.method"})
    for host in ("a.example", "b.example", "c.example"):
        count.add(1, {"http.method": "POST", "http.host": host})
    assert _points(reader) == {(("http.method", "POST"),): 3}


def test_past_the_limit_new_sets_count_as_overflow_and_totals_stay_right() -> None:
    count, reader = _count(limit=2)
    for host in ("a", "b", "c", "d"):
        count.add(1, {"host": host})
    overflow = tuple(sorted(OVERFLOW_ATTRIBUTES.items()))
    assert _points(reader) == {(("host", "a"),): 1, (("host", "b"),): 1, overflow: 2}
    for host in ("a", "b", "c", "d"):
        count.add(-1, {"host": host})
    assert set(_points(reader).values()) == {0}


def test_a_counter_is_a_monotonic_sum_and_refuses_to_go_down() -> None:
    count, reader = _count(monotonic=True)
    count.add(2, {"outcome": "ok"})
    count.add(-1, {"outcome": "ok"})  # the SDK's counter drops it with a warning; so does this
    count.add(1, {"outcome": "ok"})
    assert _points(reader, monotonic=True) == {(("outcome", "ok"),): 3}
    assert _points(reader, monotonic=True) == {(("outcome", "ok"),): 3}  # cumulative
