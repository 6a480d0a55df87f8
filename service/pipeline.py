"""The chat pipeline: cache lookup, then a replayed or upstream answer, then store and pre-warm.

It is the one path every chat route takes (SSE, JSON and OpenAI-compatible); routes only render
the events it yields. It owns the per-request telemetry that spans the whole stream: the
``chat.first_token`` and ``chat.full_response`` spans, the TTFT and duration histograms, the
active-stream gauge and the request counter. Timing marks go into one ``StreamTimings``.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from otel import semconv
from otel.instruments import ChatInstruments
from service.cache import (
    CachedAnswer,
    CacheHit,
    CacheScope,
    ChatCache,
    PrewarmScheduler,
    history_digest,
)
from service.chat_request import ChatRequest
from service.errors import UpstreamFailure
from service.llm.client import Completion, Keepalive, TokenDelta, UpstreamClient
from service.llm.router import ModelRouter, RouteDecision
from service.settings import Settings
from service.single_flight import SingleFlight
from service.timings import StreamTimings

__all__ = [
    "ChatPipeline", "CollectedAnswer", "Done", "Failed", "Keepalive", "Meta", "Token",
    "collect_answer",
]

# Replayed answers are cut like tokens: a word with its trailing space.
_REPLAY_PIECES = re.compile(r"\S+\s*|\s+")


@dataclass(frozen=True)
class Meta:
    """Sent first: whether the cache answers, and which model/tier."""

    request_id: str
    cache: str  # "hit" | "miss"
    tier: str | None  # cache tier on a hit
    model: str
    model_tier: str
    routing_reason: str | None
    similarity: float | None = None
    trace_id: str | None = None

    def as_dict(self) -> dict[str, object]:
        data: dict[str, object] = {
            "request_id": self.request_id, "cache": self.cache, "tier": self.tier,
            "model": self.model, "model_tier": self.model_tier,
            "routing_reason": self.routing_reason,
        }
        if self.similarity is not None:
            data["similarity"] = round(self.similarity, 4)
        if self.trace_id:
            data["trace_id"] = self.trace_id
        return data


@dataclass(frozen=True)
class Token:
    """A piece of the answer."""

    delta: str


@dataclass(frozen=True)
class Done:
    """The answer is complete."""

    finish_reason: str
    input_tokens: int
    output_tokens: int
    timings: StreamTimings
    trace_id: str | None = None

    def as_dict(self) -> dict[str, object]:
        data: dict[str, object] = {
            "finish_reason": self.finish_reason,
            "usage": {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens},
            "timings": self.timings.as_dict(),
        }
        if self.trace_id:
            data["trace_id"] = self.trace_id
        return data


@dataclass(frozen=True)
class Failed:
    """The answer cannot be completed; the stream ends with an ``error`` event."""

    failure: UpstreamFailure


# ``Keepalive`` passes through from the upstream client: nothing to send for a while.
PipelineEvent = Meta | Token | Keepalive | Done | Failed


@dataclass(frozen=True)
class CollectedAnswer:
    """A whole answer for the non-streaming routes: ``done`` or ``failed`` is set."""

    meta: Meta | None
    text: str
    done: Done | None
    failed: Failed | None


def collect_answer(events: Iterator[PipelineEvent]) -> CollectedAnswer:
    """Drain the events to the end (so the answer is stored), keeping what a JSON reply needs."""
    meta: Meta | None = None
    done: Done | None = None
    failed: Failed | None = None
    pieces: list[str] = []
    for event in events:
        if isinstance(event, Meta):
            meta = event
        elif isinstance(event, Token):
            pieces.append(event.delta)
        elif isinstance(event, Done):
            done = event
        elif isinstance(event, Failed):
            failed = event
    return CollectedAnswer(meta, "".join(pieces), done, failed)


@dataclass
class _RequestState:
    """What the pipeline learns about one request while it runs (for metrics and spans)."""

    route: str
    timings: StreamTimings
    cache_hit: bool = False
    model_tier: str = "unknown"
    outcome: str = "cancelled"  # until proven otherwise: a client that left mid-stream
    error_type: str | None = None  # the failure's code when outcome is "error"
    answer: list[str] = field(default_factory=list)


def _prompt_version(prompt: str) -> str:
    return hashlib.sha256(prompt.encode()).hexdigest()[:12]


def _trace_id() -> str | None:
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


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
    ) -> None:
        self._settings = settings
        self._router = router
        self._upstream = upstream
        self._instruments = instruments
        self._tracer = tracer
        self._cache = cache
        self._flights = SingleFlight(settings.ping_interval_seconds)
        # Set after construction: the scheduler needs ``answer_for_prewarm`` of this pipeline.
        self.prewarm = prewarm

    def scope(self, request: ChatRequest) -> CacheScope:
        return CacheScope(
            tenant=request.tenant,
            system_prompt_version=_prompt_version(self._system_prompt(request)),
            model_choice=request.model_choice,
            context=history_digest([turn.as_openai() for turn in request.history]),
        )

    def _system_prompt(self, request: ChatRequest) -> str:
        return request.system_prompt or self._settings.system_prompt

    def quick(self, request: ChatRequest) -> CacheHit | None:
        """``/api/chat/quick``: the cache check alone, left out of the hit rate."""
        hit = self._lookup(request, count=False)
        self._instruments.requests.add(1, {
            semconv.LABEL_ROUTE: "quick", semconv.LABEL_OUTCOME: "hit" if hit else "miss",
        })
        return hit

    def _lookup(self, request: ChatRequest, count: bool = True) -> CacheHit | None:
        if self._cache is None:
            return None
        with self._tracer.start_as_current_span(semconv.SPAN_CACHE_LOOKUP) as span:
            hit = self._cache.lookup(request.message, self.scope(request), count=count)
            span.set_attribute(semconv.ATTR_CACHE_HIT, hit is not None)
            span.set_attribute(semconv.ATTR_CACHE_BACKEND, self._cache.backend_name)
            if hit is not None:
                span.set_attribute(semconv.ATTR_CACHE_TIER, hit.tier)
                span.set_attribute(semconv.ATTR_CACHE_SIMILARITY, hit.similarity)
            return hit

    def run(
        self, request: ChatRequest, request_id: str, route: str, timings: StreamTimings
    ) -> Iterator[PipelineEvent]:
        """Answer ``request``; closing the generator early cancels the upstream call."""
        state = _RequestState(route, timings)
        self._instruments.active_streams.add(1, {semconv.LABEL_ROUTE: route})
        try:
            hit = self._lookup(request)
            timings.mark("cache_checked")
            if hit is not None:
                yield from self._replay(hit, request_id, state)
            else:
                yield from self._generate(request, request_id, state)
        except UpstreamFailure as failure:
            state.outcome, state.error_type = "error", failure.code
            yield Failed(failure)
        finally:
            self._record(state)

    # --- the two ways to answer -----------------------------------------------------------------

    def _replay(
        self, hit: CacheHit, request_id: str, state: _RequestState
    ) -> Iterator[PipelineEvent]:
        entry = hit.entry
        state.cache_hit, state.model_tier = True, entry.model_tier
        yield Meta(request_id, "hit", hit.tier, entry.model, entry.model_tier, None,
                   hit.similarity, _trace_id())
        state.timings.mark("meta")
        for piece in _REPLAY_PIECES.findall(entry.answer):
            yield Token(piece)
            self._token_written(state)
        state.timings.mark("finished")
        state.outcome = "ok"
        yield Done("stop", entry.input_tokens, entry.output_tokens, state.timings, _trace_id())

    def _generate(
        self, request: ChatRequest, request_id: str, state: _RequestState
    ) -> Iterator[PipelineEvent]:
        decision = self._router.choose(request.message, request.history, request.model_choice)
        state.model_tier = decision.tier
        self._instruments.router_decisions.add(1, {
            semconv.LABEL_MODEL_TIER: decision.tier, semconv.LABEL_REASON: decision.reason,
        })
        yield Meta(request_id, "miss", None, decision.model, decision.tier, decision.reason,
                   None, _trace_id())
        state.timings.mark("meta")
        messages = [
            {"role": "system", "content": self._system_prompt(request)},
            *(turn.as_openai() for turn in request.history),
            {"role": "user", "content": request.message},
        ]
        completion: Completion | None = None
        items, leader = self._flights.stream(
            self._flight_key(request, decision),
            lambda: self._upstream.stream(messages, decision, state.timings, request.max_tokens),
        )
        for item in items:
            if isinstance(item, Keepalive):
                yield item
            elif isinstance(item, TokenDelta):
                state.answer.append(item.text)
                yield Token(item.text)
                self._token_written(state)
            else:
                completion = item
        assert completion is not None  # the client raises rather than end without one
        state.timings.mark("finished")
        state.outcome = "ok"
        yield Done(completion.finish_reason, completion.input_tokens, completion.output_tokens,
                   state.timings, _trace_id())
        # The client has the whole answer; storing and predicting happen after it, once.
        if leader and completion.finish_reason == "stop":
            self._store(request, decision, completion, "".join(state.answer))

    def _flight_key(self, request: ChatRequest, decision: RouteDecision) -> str:
        question = " ".join(request.message.lower().split())
        return f"{self.scope(request).key}|{decision.model}|{request.max_tokens}|{question}"

    def _store(
        self, request: ChatRequest, decision: RouteDecision, completion: Completion, text: str
    ) -> None:
        if self._cache is None:
            return
        scope = self.scope(request)
        answer = CachedAnswer(
            question=request.message, answer=text, model=completion.response_model,
            model_tier=decision.tier, input_tokens=completion.input_tokens,
            output_tokens=completion.output_tokens, created_at=time.time(),
        )
        with self._tracer.start_as_current_span(semconv.SPAN_CACHE_STORE) as span:
            span.set_attribute(semconv.ATTR_CACHE_BACKEND, self._cache.backend_name)
            self._cache.store(request.message, scope, answer)
        if self.prewarm is not None:
            self.prewarm.after_answer(
                request.message, scope, trace.get_current_span().get_span_context()
            )

    def answer_for_prewarm(self, question: str, scope: CacheScope) -> CachedAnswer | None:
        """Generate a predicted follow-up's answer in the background (no client waiting)."""
        if scope.system_prompt_version != _prompt_version(self._settings.system_prompt):
            return None  # a client's own system prompt: we cannot reproduce its context
        decision = self._router.choose(question, (), scope.model_choice)
        messages = [
            {"role": "system", "content": self._settings.system_prompt},
            {"role": "user", "content": question},
        ]
        text: list[str] = []
        completion: Completion | None = None
        for item in self._upstream.stream(messages, decision, StreamTimings()):
            if isinstance(item, TokenDelta):
                text.append(item.text)
            elif isinstance(item, Completion):
                completion = item
        if completion is None or completion.finish_reason != "stop":
            return None
        return CachedAnswer(
            question=question, answer="".join(text), model=completion.response_model,
            model_tier=decision.tier, input_tokens=completion.input_tokens,
            output_tokens=completion.output_tokens, created_at=time.time(), prewarmed=True,
        )

    # --- telemetry ------------------------------------------------------------------------------

    def _token_written(self, state: _RequestState) -> None:
        """Called once the WSGI server took a token: the first one ends ``chat.first_token``."""
        timings = state.timings
        timings.tokens += 1
        if timings.first_token is None:
            timings.mark("first_token")
            span = self._tracer.start_span(
                semconv.SPAN_FIRST_TOKEN, start_time=timings.started_epoch_ns,
                attributes=self._span_attributes(state),
            )
            span.end(end_time=timings.epoch_ns(timings.first_token))

    def _span_attributes(self, state: _RequestState) -> dict[str, object]:
        return {
            semconv.ATTR_ROUTE: state.route,
            semconv.ATTR_CACHE_HIT: state.cache_hit,
            semconv.ATTR_MODEL_TIER: state.model_tier,
        }

    def _record(self, state: _RequestState) -> None:
        timings = state.timings
        timings.mark("finished")
        labels = {
            semconv.LABEL_CACHE_HIT: "true" if state.cache_hit else "false",
            semconv.LABEL_MODEL_TIER: state.model_tier,
            semconv.LABEL_ROUTE: state.route,
        }
        instruments = self._instruments
        instruments.active_streams.add(-1, {semconv.LABEL_ROUTE: state.route})
        instruments.requests.add(1, {
            semconv.LABEL_ROUTE: state.route, semconv.LABEL_OUTCOME: state.outcome,
        })
        if timings.first_token is not None:
            instruments.ttft.record(timings.first_token - timings.started, labels)
        if state.outcome == "ok":
            instruments.response_duration.record(timings.finished - timings.started, labels)
        span = self._tracer.start_span(
            semconv.SPAN_FULL_RESPONSE, start_time=timings.started_epoch_ns,
            attributes={**self._span_attributes(state), semconv.ATTR_OUTPUT_CHUNKS: timings.tokens},
        )
        if state.outcome != "ok":
            error_type = state.error_type or state.outcome
            span.set_status(Status(StatusCode.ERROR, state.outcome))
            span.set_attribute(semconv.ERROR_TYPE, error_type)
            if state.error_type is not None:
                # An SSE stream that ends in `error` is still HTTP 200: mark the request's
                # server span so a trace search for failed requests finds it.
                server_span = trace.get_current_span()
                server_span.set_status(Status(StatusCode.ERROR, state.error_type))
                server_span.set_attribute(semconv.ERROR_TYPE, state.error_type)
        span.end(end_time=timings.epoch_ns(timings.finished))
