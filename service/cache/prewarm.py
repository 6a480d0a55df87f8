"""Predictive pre-warm: answer the likely next question before it is asked.

After each answer the scheduler records what this conversation asked before (so it learns what
real traffic asks next) and predicts follow-ups — the most frequent next questions seen, then the
domain pack's usual follow-ups for the question's category — and generates them in the
background into the scope the next turn will have. It stays behind user traffic: a small
concurrency limit, a budget per minute, nothing while ``busy()`` says users need the capacity,
nothing that is already cached, and nothing after ``shutdown()``. Outcomes are counted as
``chat.cache.prewarm{outcome}``: made, used (counted by the cache on the first hit), wasted
(failed, cancelled or evicted unused), skipped.

The same scheduler generates a cached question's further answers (``vary``: variants, see
``variants.py``) when a hit made one due: same slots, same budget, same yielding to traffic and
the same stop. Their outcomes are ``chat.cache.variants{outcome}`` (made, skipped, wasted: the
call failed, was cancelled, or repeated an answer the key has) and their upstream cost
``chat.cache.variant.tokens{gen_ai_token_type}``, so pre-warm's own figures stay its own.

What it learns from traffic lives in ``Transitions``, bounded in bytes; a learned follow-up is
generated as its normalised text (the exact key's text), never as the words one client typed,
so another client's conversation is never answered from someone else's wording.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace

from otel import semconv
from otel.instruments import ChatInstruments
from service.cache.cache import ChatCache
from service.cache.model import CachedAnswer, CacheHit, CacheScope, UnfinishedAnswer
from service.cache.transitions import Transitions, meaning_id
from service.settings import Settings

__all__ = ["PrewarmScheduler"]

log = logging.getLogger(__name__)
Answerer = Callable[[str, CacheScope], CachedAnswer | None]
_PREDICTIONS_PER_ANSWER = 3


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
        self.transitions = Transitions(settings.prewarm_memory_bytes)
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
        meaning = meaning_id(analyzer.meaning(question))
        next_context = analyzer.extend_context(scope.context, question)
        analysis = analyzer.analyse(question)
        self.transitions.learn(scope.tenant, scope.context, next_context, meaning,
                               analysis.normalized)
        predicted = self.transitions.predicted(scope.tenant, meaning, _PREDICTIONS_PER_ANSWER)
        predicted += analyzer.follow_ups(analysis)
        next_scope = dataclasses.replace(scope, context=next_context)
        chosen = [q for q in dict.fromkeys(predicted)
                  if meaning_id(analyzer.meaning(q)) != meaning]
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

    def _admit(self) -> bool:
        """A slot and a share of the budget for one generation, unless users need them."""
        if self._stopped.is_set() or self._busy() or not self._slots.acquire(blocking=False):
            return False
        if not self._within_budget():
            self._slots.release()
            return False
        return True

    def _spawn(self, target: Callable[..., None], args: tuple[Any, ...], name: str) -> None:
        worker = threading.Thread(target=target, args=args, daemon=True, name=name)
        with self._lock:
            self._workers.add(worker)
        worker.start()

    def _done(self) -> None:
        self._slots.release()
        with self._lock:
            self._workers.discard(threading.current_thread())

    def _schedule(self, question: str, scope: CacheScope, link: trace.SpanContext | None) -> None:
        if not self._admit():
            self._count("skipped")
            return
        self._spawn(self._run, (question, scope, link), "cache-prewarm")

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
            self._done()

    # --- variants -------------------------------------------------------------------------------
    def _count_variant(self, outcome: str, spent: tuple[int, int] | None = None) -> None:
        """``outcome``, and ``spent``: the (input, output) upstream tokens it cost."""
        if self._instruments is None:
            return
        if spent is not None:  # the cost first: whoever sees the outcome sees what it cost
            tokens = self._instruments.cache_variant_tokens
            tokens.add(spent[0], {semconv.GEN_AI_TOKEN_TYPE: "input"})
            tokens.add(spent[1], {semconv.GEN_AI_TOKEN_TYPE: "output"})
        self._instruments.cache_variants.add(1, {semconv.LABEL_OUTCOME: outcome})

    def vary(self, hit: CacheHit, generate: Callable[[], CachedAnswer | None],
             link: trace.SpanContext | None = None) -> None:
        """Add another answer to the key ``hit`` claimed one for, in the background: ``generate``
        asks the upstream the same request the first answer came from. Returns at once.

        Not admitted (busy traffic, the budget spent, stopped), the claim is kept until its
        lease ends: given back at once, the very next hit would claim again and be skipped
        again, a round trip more per hit for as long as traffic stays busy."""
        if not self.enabled or not self._admit():
            self._count_variant("skipped")
            return
        self._spawn(self._run_variant, (hit, generate, link), "cache-variant")

    def _run_variant(self, hit: CacheHit, generate: Callable[[], CachedAnswer | None],
                     link: trace.SpanContext | None) -> None:
        answer: CachedAnswer | None = None
        spent: tuple[int, int] | None = None
        added = False
        try:
            links = [trace.Link(link)] if link is not None and link.is_valid else []
            with self._tracer.start_as_current_span(
                semconv.SPAN_CACHE_VARIANT, context=otel_context.Context(), links=links
            ):
                answer = generate()
            if answer is not None:
                spent = (answer.input_tokens, answer.output_tokens)
                if not self._stopped.is_set():
                    added = self._cache.add_variant(hit, answer)
        except UnfinishedAnswer as cut:  # cut at the token limit: nothing to add, still paid
            spent = (cut.input_tokens, cut.output_tokens)
        except Exception:
            log.exception("generating another answer for a cached question failed")
        finally:
            if not added and (answer is None or self._stopped.is_set()):
                self._cache.add_variant(hit, None)  # give the claim up for a later hit
            self._count_variant("made" if added else "wasted", spent)
            self._done()

    def shutdown(self, timeout_seconds: float = 2.0) -> None:
        """Stop scheduling; answers still being generated are discarded, not stored."""
        self._stopped.set()
        with self._lock:
            workers = list(self._workers)
        deadline = time.monotonic() + timeout_seconds
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
