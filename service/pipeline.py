"""The chat pipeline: cache lookup, then a replayed or upstream answer, then store and pre-warm.

It is the one path every chat route takes (SSE, JSON and OpenAI-compatible); routes only render
the events it yields (``service.events``). It never raises into a route: an upstream failure and
a bug of its own alike end the answer with ``Failed``. Timing marks go into the request's
``StreamTimings``; the spans and metrics derived from them are written once, at the end, by the
``AnswerRecorder``.

Cache scope (docs/cache.md): answers generated under client-supplied history are stored only
under a scope that includes that exact history, so they are served to that conversation alone;
the shared scopes hold only answers generated without client context.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import random
import re
import time
from collections.abc import Callable, Generator, Iterator

from opentelemetry import trace

from otel import semconv
from otel.instruments import ChatInstruments
from service.cache import (
    CachedAnswer,
    CacheHit,
    CacheScope,
    ChatCache,
    PrewarmScheduler,
    conversation_digest,
)
from service.cache.variants import TOP_TEMPERATURE, Draw, conversation_id, skip_probability
from service.chat_request import ChatRequest
from service.errors import INTERNAL_FAILURE, UpstreamFailure
from service.events import (
    Completion,
    Done,
    Failed,
    Keepalive,
    Meta,
    PipelineEvent,
    TokenDelta,
    Tokens,
)
from service.followups import background_answer
from service.llm.client import UpstreamClient
from service.llm.router import ModelRouter, RouteDecision
from service.recorder import AnswerRecord, AnswerRecorder
from service.settings import Settings
from service.single_flight import SingleFlight
from service.timings import StreamTimings

__all__ = ["ChatPipeline", "prompt_version"]

log = logging.getLogger(__name__)

# Replayed answers are cut like tokens: a word with its trailing space.
_REPLAY_PIECES = re.compile(r"\S+\s*|\s+")


@functools.lru_cache(maxsize=256)
def prompt_version(prompt: str) -> str:
    """A short digest of a system prompt: cached answers are scoped by the prompt they had."""
    return hashlib.sha256(prompt.encode()).hexdigest()[:12]


def _trace_id() -> str | None:
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def _temperature(request: ChatRequest) -> float | None:
    value = dict(request.sampling).get("temperature")
    return None if value is None else float(value)


def _openai_messages(request: ChatRequest, system_prompt: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": system_prompt},
        *(turn.as_openai() for turn in request.history),
        {"role": "user", "content": request.message},
    ]


class ChatPipeline:
    """Answers a ``ChatRequest`` as a sequence of pipeline events."""

    def __init__(
        self,
        settings: Settings,
        router: ModelRouter,
        upstream: UpstreamClient,
        instruments: ChatInstruments,
        tracer: trace.Tracer,
        cache: ChatCache | None = None,
        prewarm: PrewarmScheduler | None = None,
        flights: SingleFlight | None = None,
    ) -> None:
        self._settings = settings
        self._router = router
        self._upstream = upstream
        self._instruments = instruments
        self._tracer = tracer
        self._cache = cache
        self._prewarm = prewarm
        self._recorder = AnswerRecorder(instruments, tracer)
        # ``is None``, not ``or``: a SingleFlight with no flights open is falsy (``__len__``).
        self._flights = (flights if flights is not None
                         else SingleFlight(settings.ping_interval_seconds))

    # --- cache scope ----------------------------------------------------------------------------
    def _system_prompt(self, request: ChatRequest) -> str:
        return request.system_prompt or self._settings.system_prompt

    def shared_scope(self, request: ChatRequest) -> CacheScope:
        """Where answers generated without client context live, shared within the tenant."""
        history = [turn.as_openai() for turn in request.history]
        return CacheScope(
            tenant=request.tenant,
            system_prompt_version=prompt_version(self._system_prompt(request)),
            model_choice=request.model_choice,
            context=self._cache.analyzer.history_digest(history) if self._cache else "",
        )

    def scopes(self, request: ChatRequest) -> tuple[CacheScope, ...]:
        """Scopes to look in, most specific first; the first is where an answer is stored."""
        shared = self.shared_scope(request)
        if not request.history:
            return (shared,)
        own = CacheScope(shared.tenant, shared.system_prompt_version, shared.model_choice,
                         shared.context,
                         conversation=conversation_digest([t.as_openai() for t in request.history]))
        return (own, shared)

    def _cacheable(self, request: ChatRequest) -> bool:
        # Sampling parameters change the answer in ways a cached one cannot honour; all but
        # ``temperature``, which chooses among a key's answers (service/cache/variants.py).
        temperature = _temperature(request)
        return (self._cache is not None
                and all(name == "temperature" for name, _ in request.sampling)
                and (temperature is None or temperature < TOP_TEMPERATURE))

    def _fits(self, request: ChatRequest) -> Callable[[CachedAnswer], bool] | None:
        """A cached answer serves ``max_tokens`` only if it is no longer than that."""
        limit = request.max_tokens
        return None if limit is None else (lambda entry: entry.output_tokens <= limit)

    def quick(self, request: ChatRequest) -> CacheHit | None:
        """``/api/chat/quick``: the cache check alone, left out of the hit rate."""
        hit = self._lookup(request, count=False)
        self._instruments.requests.add(1, {
            semconv.LABEL_ROUTE: "quick", semconv.LABEL_OUTCOME: "hit" if hit else "miss",
        })
        return hit

    def _lookup(self, request: ChatRequest, count: bool = True) -> CacheHit | None:
        cache = self._cache
        if cache is None or not self._cacheable(request):
            return None
        with self._tracer.start_as_current_span(semconv.SPAN_CACHE_LOOKUP) as span:
            draw = None
            if count and cache.variants > 1:
                first = request.history[0].content if request.history else None
                draw = Draw.at(_temperature(request),
                               conversation_id(request.tenant, request.session_id, first),
                               claim=self._prewarm is not None and self._prewarm.enabled)
            hit = cache.lookup(request.message, self.scopes(request), count=count,
                               accept=self._fits(request), draw=draw)
            if hit is not None and hit.due is not None:
                self._vary(request, hit)
            span.set_attribute(semconv.ATTR_CACHE_HIT, hit is not None)
            span.set_attribute(semconv.ATTR_CACHE_BACKEND, cache.backend_name)
            if hit is not None:
                span.set_attribute(semconv.ATTR_CACHE_TIER, hit.tier)
                span.set_attribute(semconv.ATTR_CACHE_SIMILARITY, hit.similarity)
            return hit

    # --- answering ------------------------------------------------------------------------------
    def run(
        self, request: ChatRequest, request_id: str, route: str, timings: StreamTimings
    ) -> Generator[PipelineEvent, None, None]:
        """Answer ``request``; closing the generator early cancels the upstream call."""
        record = AnswerRecord(route, timings)
        self._recorder.begin(route)
        try:
            # GPTCache's rule: a temperature between 0 and 2 skips the cache by chance.
            skip = random.random() < skip_probability(_temperature(request))
            hit = None if skip else self._lookup(request)
            timings.mark("cache_checked")
            if hit is not None:
                yield from self._replay(hit, request_id, record)
            else:
                yield from self._generate(request, request_id, record, store=not skip)
        except UpstreamFailure as failure:
            record.outcome, record.error_type = "error", failure.code
            yield Failed(failure)
        except Exception:
            log.exception("answering failed")
            record.outcome, record.error_type = "error", INTERNAL_FAILURE.code
            yield Failed(INTERNAL_FAILURE)
        finally:
            self._recorder.end(record)

    def _replay(
        self, hit: CacheHit, request_id: str, record: AnswerRecord
    ) -> Iterator[PipelineEvent]:
        entry = hit.entry
        record.cache_hit, record.model_tier = True, entry.model_tier
        timings = record.timings
        variant = hit.variant if self._cache is not None and self._cache.variants > 1 else None
        yield Meta(request_id, "hit", hit.tier, entry.model, entry.model_tier, None,
                   hit.similarity, _trace_id(), variant)
        timings.mark("meta")
        # Every token of a cached answer is already waiting: each is its own event, all of them
        # go out in one write.
        pieces = tuple(_REPLAY_PIECES.findall(entry.answer))
        yield Tokens(pieces)
        self._written(timings, len(pieces))
        record.outcome = "ok"
        timings.mark("finished")
        yield Done("stop", entry.input_tokens, entry.output_tokens, timings, _trace_id())

    def _generate(
        self, request: ChatRequest, request_id: str, record: AnswerRecord, store: bool = True
    ) -> Iterator[PipelineEvent]:
        decision = self._router.choose(request.message, request.history, request.model_choice)
        record.model_tier = decision.tier
        timings = record.timings
        self._instruments.router_decisions.add(1, {
            semconv.LABEL_MODEL_TIER: decision.tier, semconv.LABEL_REASON: decision.reason,
        })
        yield Meta(request_id, "miss", None, decision.model, decision.tier, decision.reason,
                   None, _trace_id())
        timings.mark("meta")
        messages = _openai_messages(request, self._system_prompt(request))
        completion: Completion | None = None
        answer: list[str] = []
        items, role = self._flights.stream(
            self._flight_key(request, decision),
            lambda: self._upstream.stream(messages, decision, timings, request.max_tokens,
                                          dict(request.sampling)),
        )
        try:
            for item in items:
                if isinstance(item, TokenDelta):
                    answer.extend(item.texts)
                    yield Tokens(item.texts)
                    self._written(timings, len(item.texts))
                elif isinstance(item, Keepalive):
                    yield item
                else:
                    completion = item
        finally:
            record.led_upstream = role.leads  # known once the flight has been read
        if completion is None:
            raise UpstreamFailure("upstream_interrupted", "the upstream answer ended early",
                                  retryable=True)
        record.outcome = "ok"
        timings.mark("finished")
        yield Done(completion.finish_reason, completion.input_tokens, completion.output_tokens,
                   timings, _trace_id())
        # The client has the whole answer; storing and predicting happen after it, once, and
        # nothing that goes wrong there may reach the client, who is done.
        if role.leads and completion.finish_reason == "stop" and store and self._cacheable(request):
            try:
                self._store(request, decision, completion, "".join(answer))
            except Exception:
                log.exception("storing a finished answer failed")

    def _vary(self, request: ChatRequest, hit: CacheHit) -> None:
        """Have the key's next answer generated in the background from the request its first
        came from: the scope's system prompt and model choice, and the client's history only
        if the entry's scope is that very conversation (shared entries were made without)."""
        prewarm = self._prewarm
        if prewarm is None:  # never: a hit claims a generation only for pre-warm (Draw.claim)
            return
        question = hit.entry.question
        history = request.history if hit.scope is not None and hit.scope.conversation else ()
        messages = [{"role": "system", "content": self._system_prompt(request)},
                    *(turn.as_openai() for turn in history),
                    {"role": "user", "content": question}]
        decision = self._router.choose(question, history, request.model_choice)
        # Another sample of the same request: an upstream that samples one way per seed (the
        # simulator, OpenAI's ``seed``) answers anew, one that samples freely does anyway.
        sampling = {"seed": hit.variants}
        prewarm.vary(
            hit, lambda: background_answer(self._upstream, question, messages, decision, sampling),
            trace.get_current_span().get_span_context())

    @staticmethod
    def _written(timings: StreamTimings, count: int) -> None:
        """Runs once the WSGI server took the tokens: the first write is the perceived TTFT."""
        timings.tokens += count
        if timings.first_token is None:
            timings.mark("first_token")

    def _flight_key(self, request: ChatRequest, decision: RouteDecision) -> str:
        question = " ".join(request.message.lower().split())
        scope = self.scopes(request)[0]
        return (f"{scope.key}|{decision.model}|{request.max_tokens}|{request.sampling!r}|"
                f"{prompt_version(self._system_prompt(request))}|{question}")

    def _store(
        self, request: ChatRequest, decision: RouteDecision, completion: Completion, text: str
    ) -> None:
        cache = self._cache
        if cache is None:
            return
        scope = self.scopes(request)[0]
        # An upstream's unknown model name is not repeated to clients (it is bounded to "_OTHER").
        model = (decision.model if completion.response_model == semconv.OTHER_VALUE
                 else completion.response_model)
        answer = CachedAnswer(
            question=request.message, answer=text, model=model,
            model_tier=decision.tier, input_tokens=completion.input_tokens,
            output_tokens=completion.output_tokens, created_at=time.time(),
        )
        with self._tracer.start_as_current_span(semconv.SPAN_CACHE_STORE) as span:
            span.set_attribute(semconv.ATTR_CACHE_BACKEND, cache.backend_name)
            cache.store(request.message, scope, answer)
        if self._prewarm is not None:
            # Learning and predictions use the shared scope: pre-warmed answers are generated
            # without this client's history, so they may be shared.
            self._prewarm.after_answer(request.message, self.shared_scope(request),
                                       trace.get_current_span().get_span_context())
