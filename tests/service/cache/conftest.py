"""Cache fixtures: metrics in memory, caches on both backends (the session's real Redis), in the
reference product's words. The ``local`` embeddings model is a fixture of tests/conftest.py."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from loadtests.workload import PACK_FILE
from otel.instruments import ChatInstruments
from service.cache import Analyzer, ChatCache
from service.cache.pack import load_pack
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
# The mechanisms are tested in the reference product's words (``loadtests/workload/pack.yaml``);
# what English alone reads is tested in test_analyzer.py.
REFERENCE_PACK = load_pack(PACK_FILE)


def reference_analyzer() -> Analyzer:
    """A fresh analyzer with the reference pack (each cache owns its memo)."""
    return Analyzer(REFERENCE_PACK)


def cache_factory(redis_url: str | None, metrics: Metrics,
                  timeout_ms: int = 200) -> Iterator[CacheFactory]:
    """Yield a maker of caches sharing a fresh namespace (as a service's workers do), then
    close every cache it made."""
    made: list[ChatCache] = []
    namespace = f"t-{uuid.uuid4().hex[:8]}"

    def make(**overrides: object) -> ChatCache:
        settings = Settings(redis_url=redis_url, cache_namespace=namespace,
                            cache_timeout_ms=timeout_ms,
                            cache_pack=str(PACK_FILE)).replace(**overrides)
        cache = ChatCache.from_settings(settings, metrics.instruments)
        made.append(cache)
        return cache

    yield make
    for cache in made:
        cache.close()


@pytest.fixture(params=["memory", "redis"])
def make_cache(request: pytest.FixtureRequest, metrics: Metrics) -> Iterator[CacheFactory]:
    """Build caches on the parametrised backend; Redis ones share a fresh namespace."""
    redis_url = None
    if request.param == "redis":
        server = request.getfixturevalue("redis_server")
        redis_url = f"redis://127.0.0.1:{server.port}/0"
    yield from cache_factory(redis_url, metrics)
