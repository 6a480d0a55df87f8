"""Predictive pre-warm: learns what is asked next, stays in budget, counts, and stops."""

from __future__ import annotations

import threading
import time

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from loadtests.workload import PACK_FILE
from otel import semconv
from service.cache import Analyzer, CachedAnswer, CacheScope, ChatCache, PrewarmScheduler
from service.cache.backend import MemoryBackend
from service.cache.pack import load_pack
from service.settings import Settings
from tests.service.cache.conftest import Metrics

SCOPE = CacheScope("public", "v1", "auto", "")
READER = Analyzer(load_pack(PACK_FILE))  # the pack's categories hold the usual follow-ups
extend_context = READER.extend_context


class Upstream:
    """An answerer that records calls and can hold them until released."""

    def __init__(self, hold: bool = False) -> None:
        self.calls: list[str] = []
        self.running = 0
        self.most_running = 0
        self.release = threading.Event()
        if not hold:
            self.release.set()
        self._lock = threading.Lock()

    def __call__(self, question: str, scope: CacheScope) -> CachedAnswer | None:
        with self._lock:
            self.calls.append(question)
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        self.release.wait(5)
        with self._lock:
            self.running -= 1
        return CachedAnswer(question, f"answer to {question}", "m", "fast", 1, 1, time.time())


def _scheduler(metrics: Metrics, upstream: Upstream, busy: bool = False,
               analyzer: Analyzer = READER, **settings: object
               ) -> tuple[ChatCache, PrewarmScheduler]:
    cache = ChatCache(MemoryBackend(60, 1000), instruments=metrics.instruments,
                      analyzer=analyzer)
    config = Settings().replace(**settings)
    return cache, PrewarmScheduler(config, cache, upstream, metrics.instruments,
                                   busy=lambda: busy)


def _wait_for(predicate, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert predicate()


def _settle(metrics: Metrics) -> None:
    """Wait until every scheduled pre-warm has an outcome (the count stops changing)."""
    def outcomes() -> float:
        return sum(metrics.total("chat.cache.prewarm", outcome=o)
                   for o in ("made", "skipped", "wasted"))
    last = -1.0
    while outcomes() != last:
        last = outcomes()
        time.sleep(0.1)


def test_follow_ups_are_generated_and_used(metrics: Metrics) -> None:
    upstream = Upstream()
    cache, scheduler = _scheduler(metrics, upstream)
    scheduler.after_answer("How much does the Pro plan cost?", SCOPE)
    _wait_for(lambda: metrics.total("chat.cache.prewarm", outcome="made") == 2)
    assert set(upstream.calls) == {"Is there a free trial?",
                                   "Do you offer a discount for annual billing?"}
    next_turn = CacheScope("public", "v1", "auto",
                           extend_context("", "How much does the Pro plan cost?"))
    hit = cache.lookup("Do you offer a free trial?", next_turn)
    assert hit is not None and hit.entry.prewarmed
    assert metrics.total("chat.cache.prewarm", outcome="used") == 1
    scheduler.shutdown()


def test_with_no_pack_only_what_traffic_asked_next_is_predicted(metrics: Metrics) -> None:
    first, then = "Where is my data stored?", "Which certifications do you hold?"
    upstream = Upstream()
    _, scheduler = _scheduler(metrics, upstream, analyzer=Analyzer())
    scheduler.after_answer("How much does the Pro plan cost?", SCOPE)
    scheduler.after_answer(first, SCOPE)
    scheduler.after_answer(then, CacheScope("public", "v1", "auto",
                                            Analyzer().extend_context("", first)))
    _settle(metrics)
    assert upstream.calls == []  # no categories, no usual follow-ups: nothing learnt yet
    scheduler.after_answer(first, CacheScope("public", "v1", "auto", "another-conversation"))
    _wait_for(lambda: upstream.calls == [then])
    scheduler.shutdown()


def test_learns_what_traffic_asks_next_per_tenant(metrics: Metrics) -> None:
    first, then = "Where is my data stored?", "Which certifications do you hold?"
    upstream = Upstream()
    _, scheduler = _scheduler(metrics, upstream, prewarm_budget_per_minute=100)
    scheduler.after_answer(first, SCOPE)
    scheduler.after_answer(then, CacheScope("public", "v1", "auto", extend_context("", first)))
    _settle(metrics)
    assert then not in upstream.calls  # nothing learnt yet: only the category's follow-ups

    scheduler.after_answer(first, CacheScope("tenant-b", "v1", "auto", ""))
    _settle(metrics)
    assert then not in upstream.calls  # one tenant's traffic does not steer another's

    scheduler.after_answer(first, CacheScope("public", "v1", "auto", "another-conversation"))
    _wait_for(lambda: then in upstream.calls)
    scheduler.shutdown()


def test_concurrency_and_budget_are_bounded(metrics: Metrics) -> None:
    upstream = Upstream(hold=True)
    _, scheduler = _scheduler(metrics, upstream, prewarm_concurrency=1,
                              prewarm_budget_per_minute=2)
    scheduler.after_answer("How much does the Pro plan cost?", SCOPE)  # predicts two
    _wait_for(lambda: upstream.running == 1)
    assert metrics.total("chat.cache.prewarm", outcome="skipped") == 1  # no free slot
    upstream.release.set()
    _wait_for(lambda: upstream.running == 0 and len(upstream.calls) == 1)
    scheduler.after_answer("How do I set up webhooks?", SCOPE)  # two more, budget has one left
    _wait_for(lambda: len(upstream.calls) == 2)
    _wait_for(lambda: metrics.total("chat.cache.prewarm", outcome="skipped") == 2)
    assert upstream.most_running == 1
    scheduler.shutdown()


def test_nothing_while_busy(metrics: Metrics) -> None:
    upstream = Upstream()
    _, scheduler = _scheduler(metrics, upstream, busy=True)
    scheduler.after_answer("How much does the Pro plan cost?", SCOPE)
    assert metrics.total("chat.cache.prewarm", outcome="skipped") == 2
    assert upstream.calls == []


def test_shutdown_discards_work_in_flight(metrics: Metrics) -> None:
    upstream = Upstream(hold=True)
    cache, scheduler = _scheduler(metrics, upstream)
    scheduler.after_answer("How much does the Pro plan cost?", SCOPE)
    _wait_for(lambda: upstream.running == 2)
    threading.Timer(0.1, upstream.release.set).start()
    scheduler.shutdown()
    assert metrics.total("chat.cache.prewarm", outcome="made") == 0
    assert metrics.total("chat.cache.prewarm", outcome="wasted") == 2
    scheduler.after_answer("How do I set up webhooks?", SCOPE)
    assert len(upstream.calls) == 2
    assert cache.describe()["entries"] == 0


def test_prewarm_span_is_its_own_trace_linked_to_the_request(metrics: Metrics) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    upstream = Upstream()
    cache = ChatCache(MemoryBackend(60, 1000), instruments=metrics.instruments, analyzer=READER)
    scheduler = PrewarmScheduler(Settings(), cache, upstream, metrics.instruments, tracer=tracer)
    with tracer.start_as_current_span("request") as request_span:
        scheduler.after_answer("How much does the Pro plan cost?", SCOPE,
                               link=request_span.get_span_context())
    _wait_for(lambda: metrics.total("chat.cache.prewarm", outcome="made") == 2)
    scheduler.shutdown()
    request = next(s for s in exporter.get_finished_spans() if s.name == "request")
    prewarms = [s for s in exporter.get_finished_spans() if s.name == semconv.SPAN_CACHE_PREWARM]
    assert len(prewarms) == 2
    for span in prewarms:
        assert span.context.trace_id != request.context.trace_id and span.parent is None
        assert [link.context.span_id for link in span.links] == [request.context.span_id]
    assert trace.get_current_span() is trace.INVALID_SPAN
