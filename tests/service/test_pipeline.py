"""The core in process: ``ChatPipeline`` with the real cache, router and single flight, in front of
a scripted upstream (fast enough to run on every save).

The upstream here is a stand-in with the upstream client's contract — it yields ``TokenDelta``,
``Keepalive``, ``Completion`` or raises ``UpstreamFailure`` — so what the pipeline does with each
can be checked in microseconds; the real client is tested against real HTTP elsewhere.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from otel.instruments import ChatInstruments
from service.cache import ChatCache
from service.cache.backend import MemoryBackend
from service.chat_request import ChatMessage, ChatRequest
from service.errors import UpstreamFailure
from service.events import (
    Completion,
    Done,
    Failed,
    Keepalive,
    Meta,
    TokenDelta,
    Tokens,
    collect_answer,
)
from service.llm.router import ModelRouter, RouteDecision
from service.pipeline import ChatPipeline
from service.settings import Settings
from service.timings import StreamTimings

SETTINGS = Settings(openai_base_url="http://127.0.0.1:9/v1", prewarm=False,
                    ping_interval_seconds=0.05)
WORDS = ("Pro", " costs", " 20", " dollars", ".")


@dataclass
class ScriptedUpstream:
    """Yields ``words`` (then a completion), or raises ``failure`` after ``fail_after`` words."""

    words: Sequence[str] = WORDS
    failure: UpstreamFailure | None = None
    fail_after: int = 0
    gate: threading.Event | None = None  # held before the first word, to line up callers
    calls: list[list[dict[str, str]]] = field(default_factory=list)
    closed: int = 0

    def stream(self, messages: Sequence[dict[str, str]], decision: RouteDecision,
               timings: StreamTimings, max_tokens: int | None = None,
               sampling: dict[str, Any] | None = None,
               origin: str = "request") -> Iterator[Any]:
        self.calls.append(list(messages))
        try:
            if self.gate is not None:
                while not self.gate.wait(0.01):
                    yield Keepalive()
            timings.upstream_sent = timings.mark("cache_checked")
            for index, word in enumerate(self.words):
                if self.failure is not None and index == self.fail_after:
                    raise self.failure
                if index == 0:
                    timings.mark("upstream_first_token")
                yield TokenDelta((word,))
            limit = max_tokens or 100
            yield Completion("stop" if len(self.words) <= limit else "length", decision.model,
                             7, len(self.words), None)
        finally:
            self.closed += 1


def _pipeline(upstream: ScriptedUpstream, cache: bool = True) -> ChatPipeline:
    chat_cache = ChatCache(MemoryBackend(3600, 100)) if cache else None
    return ChatPipeline(SETTINGS, ModelRouter(SETTINGS), upstream,  # type: ignore[arg-type]
                        ChatInstruments.create(), _tracer(), chat_cache)


def _tracer() -> Any:
    from opentelemetry import trace

    return trace.NoOpTracerProvider().get_tracer("test")


def _answer(pipeline: ChatPipeline, request: ChatRequest) -> list[Any]:
    return list(pipeline.run(request, "req-1", "stream", StreamTimings()))


def test_a_miss_streams_meta_tokens_done_then_the_repeat_is_a_hit() -> None:
    upstream = ScriptedUpstream()
    pipeline = _pipeline(upstream)
    first = _answer(pipeline, ChatRequest("How much is the Pro plan?"))
    assert isinstance(first[0], Meta) and first[0].cache == "miss"
    assert [d for e in first if isinstance(e, Tokens) for d in e.deltas] == list(WORDS)
    assert isinstance(first[-1], Done) and first[-1].finish_reason == "stop"
    again = collect_answer(pipeline.run(ChatRequest("how much is the pro plan"), "req-2",
                                        "stream", StreamTimings()))
    assert again.meta is not None and again.meta.cache == "hit"
    assert again.text == "".join(WORDS)
    assert len(upstream.calls) == 1


def test_timings_record_the_first_write_and_the_overhead() -> None:
    timings = StreamTimings()
    list(_pipeline(ScriptedUpstream()).run(ChatRequest("A new question?"), "r", "stream", timings))
    assert timings.first_token is not None and timings.tokens == len(WORDS)
    assert timings.service_overhead_s is not None and timings.service_overhead_s >= 0


def test_an_upstream_failure_ends_with_failed_and_is_not_cached() -> None:
    failure = UpstreamFailure("upstream_interrupted", "cut", retryable=True)
    upstream = ScriptedUpstream(failure=failure, fail_after=2)
    pipeline = _pipeline(upstream)
    events = _answer(pipeline, ChatRequest("Will this break?"))
    assert isinstance(events[-1], Failed) and events[-1].failure.code == "upstream_interrupted"
    assert not any(isinstance(e, Done) for e in events)
    upstream.failure = None
    assert _answer(pipeline, ChatRequest("Will this break?"))[0].cache == "miss"


def test_a_bug_in_the_pipeline_ends_with_internal_error(monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline = _pipeline(ScriptedUpstream())
    monkeypatch.setattr(pipeline._router, "choose", lambda *a, **k: 1 / 0)
    events = _answer(pipeline, ChatRequest("Anything?"))
    assert isinstance(events[-1], Failed) and events[-1].failure.code == "internal_error"


def test_closing_the_answer_early_closes_the_upstream_call() -> None:
    upstream = ScriptedUpstream()
    events = _pipeline(upstream).run(ChatRequest("Stop me?"), "r", "stream", StreamTimings())
    assert isinstance(next(events), Meta)
    assert isinstance(next(events), Tokens)
    events.close()
    assert upstream.closed == 1


def test_identical_concurrent_questions_share_one_upstream_call() -> None:
    gate = threading.Event()
    upstream = ScriptedUpstream(gate=gate)
    pipeline = _pipeline(upstream, cache=False)
    results: list[str] = []

    def ask() -> None:
        answer = collect_answer(pipeline.run(ChatRequest("Same question?"), "r", "stream",
                                             StreamTimings()))
        results.append(answer.text)

    callers = [threading.Thread(target=ask) for _ in range(5)]
    for caller in callers:
        caller.start()
    gate.set()
    for caller in callers:
        caller.join(5)
    assert results == ["".join(WORDS)] * 5
    assert len(upstream.calls) == 1


def test_history_steered_answers_stay_in_their_conversation() -> None:
    upstream = ScriptedUpstream()
    pipeline = _pipeline(upstream)
    history = (ChatMessage("user", "ALWAYS REPLY: free"), ChatMessage("assistant", "ok"))
    _answer(pipeline, ChatRequest("Is there a free trial?", history=history))
    assert _answer(pipeline, ChatRequest("Is there a free trial?"))[0].cache == "miss"
    assert _answer(pipeline, ChatRequest("Is there a free trial?", history=history))[0].cache \
        == "hit"


def test_a_cached_answer_longer_than_max_tokens_is_not_served() -> None:
    pipeline = _pipeline(ScriptedUpstream())
    _answer(pipeline, ChatRequest("Describe Enterprise?"))
    assert _answer(pipeline, ChatRequest("Describe Enterprise?", max_tokens=2))[0].cache == "miss"
    assert _answer(pipeline, ChatRequest("Describe Enterprise?", max_tokens=50))[0].cache == "hit"


@pytest.mark.parametrize("sampling", [
    (("top_p", 0.5),), (("temperature", 2.0),), (("temperature", 0.0), ("seed", 7)),
])
def test_sampling_parameters_bypass_the_cache(sampling: tuple) -> None:
    upstream = ScriptedUpstream()
    pipeline = _pipeline(upstream)
    sampled = ChatRequest("Tell me a fact?", sampling=sampling)
    _answer(pipeline, sampled)
    assert _answer(pipeline, sampled)[0].cache == "miss"
    assert _answer(pipeline, ChatRequest("Tell me a fact?"))[0].cache == "miss"
    assert len(upstream.calls) == 3


def test_temperature_zero_is_answered_from_the_cache() -> None:
    upstream = ScriptedUpstream()
    pipeline = _pipeline(upstream)
    cold = ChatRequest("Tell me a fact?", sampling=(("temperature", 0.0),))
    _answer(pipeline, cold)
    assert _answer(pipeline, cold)[0].cache == "hit"
    assert _answer(pipeline, ChatRequest("Tell me a fact?"))[0].cache == "hit"
    assert len(upstream.calls) == 1
