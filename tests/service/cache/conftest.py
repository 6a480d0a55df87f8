"""Cache fixtures: metrics in memory, and caches on both backends (the session's real Redis)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from otel.instruments import ChatInstruments
from service.cache import ChatCache
from service.settings import Settings


class Metrics:
    """Counter totals from an in-memory reader, by attributes."""

    def __init__(self) -> None:
        self.reader = InMemoryMetricReader()
        self.instruments = ChatInstruments.create(
            MeterProvider(metric_readers=[self.reader]).get_meter("test")
        )

    def total(self, name: str, **attributes: str) -> float:
        data = self.reader.get_metrics_data()
        found = 0.0
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name != name:
                        continue
                    for point in metric.data.data_points:
                        if all(point.attributes.get(k) == v for k, v in attributes.items()):
                            found += getattr(point, "value", getattr(point, "count", 0))
        return found


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


CacheFactory = Callable[..., ChatCache]


@pytest.fixture(params=["memory", "redis"])
def make_cache(request: pytest.FixtureRequest, metrics: Metrics) -> Iterator[CacheFactory]:
    """Build caches on the parametrised backend; Redis ones share a fresh namespace."""
    made: list[ChatCache] = []
    namespace = f"t-{uuid.uuid4().hex[:8]}"
    redis_url = None
    if request.param == "redis":
        server = request.getfixturevalue("redis_server")
        redis_url = f"redis://127.0.0.1:{server.port}/0"

    def make(**overrides: object) -> ChatCache:
        settings = Settings(redis_url=redis_url, cache_namespace=namespace,
                            cache_timeout_ms=200).replace(**overrides)
        cache = ChatCache.from_settings(settings, metrics.instruments)
        made.append(cache)
        return cache

    yield make
    for cache in made:
        cache.close()
