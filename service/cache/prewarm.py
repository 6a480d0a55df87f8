"""Predictive pre-warm: answer the likely next question before it is asked.

After each answer the scheduler records what this conversation asked before (so it learns what
real traffic asks next) and predicts follow-ups — the most frequent next questions seen, then the
domain pack's usual follow-ups for the question's category — and generates them in the
background into the scope the next turn will have. It stays behind user traffic: a small
concurrency limit, a budget per minute, nothing while ``busy()`` says users need the capacity,
nothing that is already cached, and nothing after ``shutdown()``. Outcomes are counted as
``chat.cache.prewarm{outcome}``: made, used (counted by the cache on the first hit), wasted
(failed, cancelled or evicted unused), skipped.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable

from opentelemetry import context as otel_context
from opentelemetry import trace

from otel import semconv
from otel.instruments import ChatInstruments
from service.cache.cache import ChatCache
from service.cache.model import CachedAnswer, CacheScope
from service.settings import Settings

__all__ = ["PrewarmScheduler"]

log = logging.getLogger(__name__)
Answerer = Callable[[str, CacheScope], CachedAnswer | None]
_PREDICTIONS_PER_ANSWER = 3
_REMEMBERED_CONVERSATIONS = 10_000


class PrewarmScheduler:
    """Predicts likely follow-ups after an answer and generates them in the background, within
    a concurrency bound and a per-minute budget, yielding to user traffic."""

    def __init__(self, settings: Settings, cache: ChatCache, answerer: Answerer,
                 instruments: ChatInstruments | None = None,
                 busy: Callable[[], bool] | None = None,
                 tracer: trace.Tracer | None = None) -> None:
        self.enabled = bool(settings.prewarm) and cache.enabled
        self._cache = cache
        self._answerer = answerer
        self._instruments = instruments
        self._busy = busy or (lambda: False)
        self._budget = settings.prewarm_budget_per_minute
        self._slots = threading.BoundedSemaphore(max(1, settings.prewarm_concurrency))
        self._started: deque[float] = deque()
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._workers: set[threading.Thread] = set()
        # (tenant, context after a question) -> that question's meaning, to learn transitions
        self._asked: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._next: dict[tuple[str, str], Counter[str]] = {}
        self._texts: dict[str, str] = {}
        self._tracer = tracer or trace.get_tracer(__name__)

    def _count(self, outcome: str) -> None:
        if self._instruments is not None:
            self._instruments.cache_prewarm.add(1, {semconv.LABEL_OUTCOME: outcome})

    def after_answer(self, question: str, scope: CacheScope,
                     link: trace.SpanContext | None = None) -> None:
        """Learn from this turn and schedule its likely follow-ups; returns at once."""
        if not self.enabled or self._stopped.is_set():
            return
        analyzer = self._cache.analyzer
        meaning = analyzer.meaning(question)
        next_context = analyzer.extend_context(scope.context, question)
        with self._lock:
            previous = self._asked.get((scope.tenant, scope.context)) if scope.context else None
            if previous is not None:
                self._next.setdefault((scope.tenant, previous), Counter())[meaning] += 1
            self._asked[(scope.tenant, next_context)] = meaning
            while len(self._asked) > _REMEMBERED_CONVERSATIONS:
                self._asked.popitem(last=False)
            self._texts.setdefault(meaning, question)
            seen = self._next.get((scope.tenant, meaning), Counter())
            predicted = [self._texts[m] for m, _ in seen.most_common(_PREDICTIONS_PER_ANSWER)]
        predicted += analyzer.follow_ups(analyzer.analyse(question))
        next_scope = dataclasses.replace(scope, context=next_context)
        chosen = [q for q in dict.fromkeys(predicted) if analyzer.meaning(q) != meaning]
        for follow_up in chosen[:_PREDICTIONS_PER_ANSWER]:
            self._schedule(follow_up, next_scope, link)

    def _within_budget(self) -> bool:
        now = time.monotonic()
        with self._lock:
            while self._started and now - self._started[0] >= 60.0:
                self._started.popleft()
            if len(self._started) >= self._budget:
                return False
            self._started.append(now)
            return True

    def _schedule(self, question: str, scope: CacheScope, link: trace.SpanContext | None) -> None:
        if self._stopped.is_set() or self._busy() or not self._slots.acquire(blocking=False):
            self._count("skipped")
            return
        if not self._within_budget():
            self._slots.release()
            self._count("skipped")
            return
        worker = threading.Thread(target=self._run, args=(question, scope, link), daemon=True,
                                  name="cache-prewarm")
        with self._lock:
            self._workers.add(worker)
        worker.start()

    def _run(self, question: str, scope: CacheScope, link: trace.SpanContext | None) -> None:
        try:
            if self._stopped.is_set() or self._cache.contains(question, scope):
                self._count("skipped")
                return
            links = [trace.Link(link)] if link is not None and link.is_valid else []
            # A fresh context: pre-warm is its own trace, only linked to the request behind it.
            with self._tracer.start_as_current_span(
                semconv.SPAN_CACHE_PREWARM, context=otel_context.Context(), links=links
            ):
                answer = self._answerer(question, scope)
            if answer is None or self._stopped.is_set():
                self._count("wasted")
                return
            self._cache.store(question, scope, dataclasses.replace(answer, prewarmed=True))
            self._count("made")
        except Exception:
            log.exception("pre-warm of a follow-up failed")
            self._count("wasted")
        finally:
            self._slots.release()
            with self._lock:
                self._workers.discard(threading.current_thread())

    def shutdown(self, timeout_seconds: float = 2.0) -> None:
        """Stop scheduling; answers still being generated are discarded, not stored."""
        self._stopped.set()
        with self._lock:
            workers = list(self._workers)
        deadline = time.monotonic() + timeout_seconds
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
